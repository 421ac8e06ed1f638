//! Municipal sync server (issue 3).
