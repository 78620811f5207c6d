//! The capability pages and the public subscribe pages (see the module docs).
