//go:build !unix

package tail

import "os"

// identitySupported is false where os.FileInfo carries no device and inode numbers; New
// refuses to build a Tailer there.
const identitySupported = false

func keyOf(os.FileInfo) (fileKey, bool) { return fileKey{}, false }
