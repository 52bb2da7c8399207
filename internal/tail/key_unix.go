//go:build unix

package tail

import (
	"os"
	"syscall"
)

const identitySupported = true

// keyOf returns the device and inode numbers of fi.
func keyOf(fi os.FileInfo) (fileKey, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true // field types differ by OS
}
