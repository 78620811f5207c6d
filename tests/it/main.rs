//! The integration tests, one binary (the suite links aws-sdk-s3 and the rest once): each
//! module is what a user or an integrator does with Pharos, end to end, against real servers on
//! loopback, the built binary and a real headless Chromium.

mod common;

mod admin;
mod browser;
mod cli;
mod cluster;
mod cluster_mirror;
mod cluster_run;
mod cluster_tools;
mod component_feeds;
mod config;
mod daemon;
mod engine;
mod faults;
mod monitors;
mod notify;
mod ops;
mod publish;
mod secrets;
mod site;
mod statuspage;
mod subscribe;
mod traversal;
mod truth;
mod xss;
