//! JOSE for Tessera (work in progress).
