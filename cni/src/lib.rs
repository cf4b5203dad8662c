//! CNI plugins (`multus`, `sriov`) and the helpers they share.
