// Package tail follows log files the way the collector's DaemonSet needs it: it reads every file
// matched by a list of paths and globs (for example /var/log/containers/*_istio-proxy-*.log),
// hands each complete line to a Handler in file order, survives rotation, and keeps checkpoints
// so a restart neither loses nor repeats lines. It does not parse lines, reassemble CRI partial
// lines or count lines and bytes: that is the Handler's job.
//
// # Discovery and reading
//
// The patterns are expanded with filepath.Glob at start and again every RescanInterval, so files
// that appear later are picked up. A match that is not a regular file after following symlinks
// (a directory, a FIFO, a dangling symlink) is ignored. A file that cannot be opened is logged and
// tried again at the next rescan. Open files are polled every PollInterval: each poll reads
// whatever was appended since the last one. "**" is not supported.
//
// Lines are split by parse.LineReader, the reader every source of the collector uses, so byte
// offsets, line numbers and the line cap (parse.DefaultMaxLine by default) mean the same
// everywhere. Lines end at '\n'; a '\r' before it is dropped. A final line without '\n' is held back until its
// newline arrives, because the writer may still be writing it; only when the file is let go
// (rotated away or deleted, and drained) or ends a generation (truncated) is such a trailing
// fragment delivered as a line. A line longer than MaxLineBytes is not delivered: Handler.TooLong
// reports it and reading goes on after its newline. Any bytes, binary junk included, just yield
// lines.
//
// # Identity
//
// A file is known by its device and inode numbers plus a fingerprint of its first bytes
// (FingerprintBytes, or the whole file while it is shorter; the length used is kept with the
// hash) — never by its path. A path that is renamed or replaced therefore never makes the tailer
// read a file twice, and two paths leading to the same file (a symlink and its target) are read
// once, under the first path found.
//
// # Rotation
//
// Rename rotation: when the path no longer leads to the open file (it was renamed, and perhaps a
// new file created in its place), the old file is kept open and read for RotateWait more, so that
// a writer which has not reopened yet can finish, then read to its end, its trailing fragment
// delivered, Handler.Close called, and only then is the new file at the path opened and read
// from its start. Deletion is handled the same way: the open descriptor is drained, then closed.
// For one path, Close of a generation always comes before Open of the next.
//
// Copytruncate rotation and plain truncation: when a file becomes shorter than the position
// already read, or its first bytes change under the reader, it is treated as a new generation of
// the same file: the old generation's trailing fragment is delivered, Close and then Open are
// called, and reading starts again at offset 0. Each such event counts in both
// fallbackwatch_file_truncations_total and fallbackwatch_file_rotations_total{kind="copytruncate"};
// rename rotations count in fallbackwatch_file_rotations_total{kind="rename"}.
//
// # Checkpoints
//
// With a StateFile, positions are saved every CheckpointInterval, whenever CheckpointBytes were
// read since the last save (a backlog is read in one go, so time alone would not checkpoint it),
// and when Run returns, as JSON
// records of device, inode, fingerprint, offset, line number and path (the path is for humans),
// written atomically (temporary file, fsync, rename, fsync of the directory). Only safe positions
// are stored: the position after the last line for which the LineFunc returned true, so a
// consumer that holds an unfinished multi-line record (a CRI 'P' fragment) sees its fragments
// again after a restart. On restart a file resumes at its saved position when device, inode and
// fingerprint all match; a file whose inode was reused (the fingerprint differs) or that became
// shorter than its saved position is read from the start. Positions of files that were let go
// are remembered while some matched path still leads to them, so a glob that also matches rotated
// names does not read them again.
//
// What a crash (no save when Run returns) makes the next start deliver again is bounded by
// volume: at most CheckpointBytes read past the saved positions, plus the unfinished line or
// multi-line record a saved position was held back for.
//
// A file rotated away while the tailer was stopped is found again at the next start by device,
// inode and fingerprint in the directory of its checkpointed path or of that path's symlink
// target: it is read from its checkpoint to its end under the checkpointed path, and only then
// is the file now at that path opened. A file moved to another directory is not found; whatever
// was appended to it after the last checkpoint is then lost.
//
// # Start position
//
// Files found by the first scan of the very first start — no StateFile configured, or the state
// file does not exist yet (or cannot be decoded) — and that have no checkpoint begin at their end
// when StartAtEnd is set (after the last complete line, so a line being written is delivered
// whole), and at their beginning otherwise. Every other file without a checkpoint — one that
// appears later, or one found at a restart that has a state file — is read from its beginning,
// so nothing written while the collector was down is skipped. Line numbers count the lines this
// tailer has seen in the file: after StartAtEnd they start at 1 at the first line delivered; after
// a restart they continue from the checkpoint.
//
// # Concurrency
//
// Every Handler call (Open, the returned LineFunc, TooLong, Close) is made from the goroutine
// running Run, one at a time, so a Handler needs no locking for per-file state. The data slice
// passed to a LineFunc is only valid during the call. When Run returns, Close is not called for
// the files still open: their positions are checkpointed instead, and whatever a consumer held
// will be read again at the next start. Ready may be called from any goroutine.
package tail
