//! An in-process fake host (feature `testing`).
