// The seeded generator property tests draw from lives in IR, beside the analysis that
// also needs reproducible draws; tests that import TestSupport see it as before.
@_exported import struct IR.SeededRandom
