//! The end-to-end demo: a pod gets `eth0`, `net0` and `north` from `multus`, `vlan-firewall` runs in it
//! with the seed's VLAN 210 rules, `vlan-traffic` sends every kind of frame from outside, the demo shows
//! the interfaces, counters, Mpps and a verdict, and tears the pod down through CNI DEL.

mod bench;
mod cni;
mod firewall;
mod generator;
mod lab;
mod preflight;
mod report;
mod story;
mod sys;

pub use story::{main_result, Options};
