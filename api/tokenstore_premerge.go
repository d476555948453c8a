package api

// storeError is named by this branch's api/auth.go only; the client-core change deletes that use.
// Delete this file when merging it.
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
