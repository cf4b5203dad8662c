//! The config fuzzer: a bounded, seeded set of mutated configurations and `CNI_*` environments for
//! `multus` and `sriov`, each run through the real binary for every command (ADD, DEL, CHECK, GC,
//! STATUS, VERSION). Every call must end without a panic or a signal, print CNI error JSON (`code` and
//! `msg`) whenever it exits non-zero, and never exit 0 on invalid syntax (stdin that is not a JSON
//! object, `name`/`type`/`cniVersion` of the wrong type, a typed field of the plugin given a value of
//! another JSON type, or a value outside a field's syntax: a MAC that is not one, a VLAN past 4094, a
//! negative timeout).
//!
//! The seeds are the application note's configurations verbatim, the README's examples and shapes from
//! these tests. Calls run in a sandbox: this test's thread enters a new network and mount namespace in
//! which every existing mount is read-only and `/tmp` and `/var/lib` are fresh tmpfs, so no input can
//! touch the host's links or files; `sriov` (also as a `multus` delegate) works on a fake tree.
//! Needs root.

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use support::sriov_tree::FakeTree;
use support::*;

/// The seed of every random choice: the same inputs on every run.
const SEED: u64 = 0x15_c0f1_9f22_2026;
/// Mutated inputs per plugin; each runs for all six commands.
const CASES_PER_PLUGIN: usize = 300;
/// A call running longer than this is a hang (unless it waits for a readiness file that is not there,
/// as configured: then it is stopped the way a runtime's timeout would).
const CALL_LIMIT: Duration = Duration::from_secs(15);
/// Calls run at once.
const WORKERS: usize = 4;

/// In the order each input runs them: DEL last undoes what ADD made.
const COMMANDS: [&str; 6] = ["VERSION", "STATUS", "ADD", "CHECK", "GC", "DEL"];

/// SplitMix64: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Plugin {
    Multus,
    Sriov,
}

/// What JSON type a plugin's field must have (`null` is read as absent by both plugins).
#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Num,
    List,
    Obj,
}

impl Kind {
    fn accepts(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (_, Value::Null)
                | (Kind::Str, Value::String(_))
                | (Kind::Bool, Value::Bool(_))
                | (Kind::Num, Value::Number(_))
                | (Kind::List, Value::Array(_))
                | (Kind::Obj, Value::Object(_))
        )
    }
}

/// Typed top-level fields: a value of another JSON type is invalid syntax.
fn typed_fields(plugin: Plugin) -> &'static [(&'static str, Kind)] {
    const COMMON: [(&str, Kind); 3] = [
        ("name", Kind::Str),
        ("type", Kind::Str),
        ("cniVersion", Kind::Str),
    ];
    match plugin {
        Plugin::Multus => &[
            COMMON[0],
            COMMON[1],
            COMMON[2],
            ("delegates", Kind::List),
            ("binDir", Kind::Str),
            ("cniDir", Kind::Str),
            ("confDir", Kind::Str),
            ("logFile", Kind::Str),
            ("logLevel", Kind::Str),
            ("readinessindicatorfile", Kind::Str),
            ("readinessindicatortimeout", Kind::Num),
            ("kubeconfig", Kind::Str),
            ("clusterNetwork", Kind::Str),
            ("namespaceIsolation", Kind::Bool),
        ],
        Plugin::Sriov => &[
            COMMON[0],
            COMMON[1],
            COMMON[2],
            ("if0", Kind::Str),
            ("if0name", Kind::Str),
            ("vf", Kind::Num),
            ("deviceID", Kind::Str),
            ("vlan", Kind::Num),
            ("vlanQoS", Kind::Num),
            ("vlanProto", Kind::Str),
            ("mac", Kind::Str),
            ("spoofchk", Kind::Str),
            ("trust", Kind::Str),
            ("link_state", Kind::Str),
            ("min_tx_rate", Kind::Num),
            ("max_tx_rate", Kind::Num),
            ("l2enable", Kind::Bool),
            ("dpdk", Kind::Obj),
            ("ipam", Kind::Obj),
            ("logLevel", Kind::Str),
            ("logFile", Kind::Str),
        ],
    }
}

/// One generated input.
#[derive(Debug, Clone)]
struct Case {
    /// Distinct per case: its container ID is `fuzz<id>`.
    id: usize,
    plugin: Plugin,
    /// How it was made, for the report.
    label: String,
    stdin: Vec<u8>,
    /// Environment changes: `None` removes the variable.
    env: Vec<(String, Option<String>)>,
    /// Why the configuration is invalid syntax, if it is.
    invalid: Option<String>,
}

/// The application note's configurations, verbatim (sections 4.2.2, 4.2.3, 5.1.3, and the sriov
/// network objects' `args` of 4.1 made plugin configurations by their `plugin` field).
const SEED_MULTUS: [&str; 3] = [
    r#"{
  "name": "minion-cni-network",
  "type": "multus",
  "kubeconfig": "/etc/kubernetes/node-          kubeconfig.yaml"
}"#,
    r#"{
  "name": "minion-cni-network",
  "type": "multus",
  "kubeconfig": "/etc/kubernetes/node-kubeconfig.yaml",
  "delegates": [{
    "type": "weave-net",
    "hairpinMode": true,
    "masterplugin": true
  }]
}"#,
    r#"{
  "name": "minion1-multus-demo-network",
  "type": "multus",
  "delegates": [
    {
      "type": "sriov",
      "if0": "enp4s0f3",
      "if0name": "north0",
      "dpdk": {
        "kernel_driver": "ixgbevf",
        "dpdk_driver": "igb_uio",
        "dpdk_tool": "/root/dpdk/                                tools/dpdk-devbind.py"
      }
    },
    {
      "type": "flannel",
      "masterplugin": true,
      "delegate": {
        "isDefaultGateway": true
      }
    }
  ]
}"#,
];

const SEED_SRIOV: [&str; 2] = [
    r#"{
    "name": "sriov-conf",
    "type": "sriov",
    "if0": "enp12s0f1",
    "ipam": {
      "type": "host-local",
      "subnet": "10.56.217.0/24",
      "rangeStart": "10.56.217.171",
      "rangeEnd": "10.56.217.181",
      "routes": [
        { "dst": "0.0.0.0/0" }
      ],
      "gateway": "10.56.217.1"
    }
  }"#,
    r#"{
    "name": "sriov-vlanid-l2enable-conf",
    "type": "sriov",
    "if0": "enp2s0",
    "if0name": "north0",
    "l2enable": true,
    "vlan": 210
  }"#,
];

/// The README's JSON examples of `plugin`'s configurations.
fn readme_examples(plugin: Plugin) -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let wanted = match plugin {
        Plugin::Multus => "multus",
        Plugin::Sriov => "sriov",
    };
    let mut examples = Vec::new();
    let mut block: Option<String> = None;
    for line in readme.lines() {
        let trimmed = line.trim();
        match &mut block {
            None if trimmed == "```json" => block = Some(String::new()),
            Some(text) if trimmed == "```" => {
                if let Ok(Value::Object(conf)) = serde_json::from_str::<Value>(text) {
                    if conf.get("type").and_then(Value::as_str) == Some(wanted) {
                        examples.push(text.clone());
                    }
                }
                block = None;
            }
            Some(text) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    examples
}

/// Seeds that get further in: real PF names of the fake tree, private directories, 1.1.0.
fn working_seeds(plugin: Plugin, tree: &FakeTree, scratch: &Scratch) -> Vec<Value> {
    let pf = &tree.pfs[0].name;
    let ipam =
        json!({"type": "host-local", "subnet": "10.77.9.0/24", "dataDir": scratch.join("ipam")});
    let sriov = json!({"cniVersion": "1.1.0", "name": "fz-sriov", "type": "sriov", "if0": pf, "vf": 1,
        "vlan": 210, "vlanQoS": 3, "mac": "02:00:00:00:00:0a", "spoofchk": "off", "trust": "on",
        "link_state": "enable", "min_tx_rate": 10, "max_tx_rate": 100, "ipam": ipam});
    match plugin {
        Plugin::Sriov => vec![
            sriov,
            json!({"cniVersion": "1.0.0", "name": "fz-dpdk", "type": "sriov", "if0": pf,
                "dpdk": {"kernel_driver": "ixgbevf", "dpdk_driver": "vfio-pci", "dpdk_tool": "/x"}}),
            json!({"cniVersion": "0.4.0", "name": "fz-dev", "type": "sriov",
                "deviceID": tree.pfs[0].vfs[0].addr, "l2enable": true}),
        ],
        Plugin::Multus => vec![
            json!({"cniVersion": "1.1.0", "name": "fz-multus", "type": "multus",
                "binDir": REFERENCE_PLUGINS, "cniDir": scratch.join("cache"), "logLevel": "debug",
                "logFile": scratch.join("multus.log"), "readinessindicatortimeout": 1,
                "readinessindicatorfile": scratch.join("ready"),
                "delegates": [
                    {"cniVersion": "1.0.0", "type": "bridge", "bridge": "fzbr0", "ipam": ipam},
                    {"cniVersion": "1.0.0", "type": "sriov", "if0": pf, "vf": 0, "if0name": "north0"},
                    {"name": "chain", "cniVersion": "1.0.0",
                     "plugins": [{"type": "bridge", "bridge": "fzbr1"}, {"type": "tuning"}]}]}),
            json!({"cniVersion": "1.0.0", "name": "fz-k8s", "type": "multus",
                "kubeconfig": scratch.join("no-kubeconfig"), "clusterNetwork": "default",
                "defaultNetworks": ["a", "b"], "namespaceIsolation": true, "globalNamespaces": "x,y",
                "systemNamespaces": ["kube-system"], "cniDir": scratch.join("cache"),
                "delegates": [{"type": "bridge"}]}),
        ],
    }
}

/// Values that stress parsers: huge and tiny numbers, wrong types, odd strings.
fn odd_value(rng: &mut Rng) -> Value {
    let long = "x".repeat(5000);
    let choices = [
        json!(1e300),
        json!(-1e300),
        json!(1.8446744073709552e19),
        json!(9.3e18),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(-1),
        json!(0),
        json!(1.5),
        json!(4095),
        json!(65536),
        json!(null),
        json!(true),
        json!(false),
        json!(""),
        json!("x"),
        json!("-1"),
        json!("1e300"),
        json!("NaN"),
        json!("zz:zz:zz:zz:zz:zz"),
        json!("0000:zz:10.0"),
        json!("../../x"),
        json!("a\u{0}b"),
        json!("é✓\u{202e}"),
        json!(long),
        json!([]),
        json!([1, "a", null]),
        json!({}),
        json!({"type": 5}),
    ];
    rng.pick(&choices).clone()
}

/// A random path to a value in `v` (object keys and array indexes), possibly empty (the root).
fn random_path(rng: &mut Rng, v: &Value) -> Vec<Value> {
    let mut path = Vec::new();
    let mut at = v;
    loop {
        let next = match at {
            Value::Object(m) if !m.is_empty() && (path.is_empty() || rng.chance(40)) => {
                let key = m.keys().nth(rng.below(m.len())).unwrap().clone();
                let child = &m[&key];
                path.push(Value::String(key));
                child
            }
            Value::Array(a) if !a.is_empty() && rng.chance(60) => {
                let i = rng.below(a.len());
                path.push(json!(i));
                &a[i]
            }
            _ => return path,
        };
        at = next;
    }
}

fn at_path<'a>(v: &'a mut Value, path: &[Value]) -> &'a mut Value {
    path.iter().fold(v, |at, step| match step {
        Value::String(k) => &mut at[k.as_str()],
        Value::Number(i) => &mut at[i.as_u64().unwrap() as usize],
        _ => unreachable!(),
    })
}

/// Keys a mutation may add: the plugins' own and some unknown ones.
const EXTRA_KEYS: [&str; 14] = [
    "delegates",
    "masterplugin",
    "cniDir",
    "readinessindicatortimeout",
    "vlan",
    "mac",
    "deviceID",
    "link_state",
    "prevResult",
    "runtimeConfig",
    "cni.dev/valid-attachments",
    "args",
    "unknownField",
    "",
];

/// The paths of every number in `v`.
fn number_paths(v: &Value, at: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match v {
        Value::Number(_) => out.push(at.clone()),
        Value::Object(m) => {
            for (k, child) in m {
                at.push(Value::String(k.clone()));
                number_paths(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                at.push(json!(i));
                number_paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

/// Numbers past every range: huge, negative, fractional, past the integer types.
const EXTREME_NUMBERS: [f64; 8] = [
    1e300,
    -1e300,
    1.8446744073709552e19,
    9.3e18,
    -1.0,
    0.5,
    4.9e-324,
    -0.0,
];

/// One structural mutation of a parsed configuration; returns what it did.
fn mutate_value(rng: &mut Rng, conf: &mut Value) -> String {
    let mut numbers = Vec::new();
    number_paths(conf, &mut Vec::new(), &mut numbers);
    if !numbers.is_empty() && rng.chance(25) {
        let path = rng.pick(&numbers).clone();
        let n = *rng.pick(&EXTREME_NUMBERS);
        *at_path(conf, &path) = json!(n);
        return format!(
            "set number {} to {n:e}",
            serde_json::to_string(&path).unwrap()
        );
    }
    let path = random_path(rng, conf);
    let where_ = serde_json::to_string(&path).unwrap();
    match rng.below(4) {
        0 if !path.is_empty() => {
            let (last, parent) = path.split_last().unwrap();
            match (at_path(conf, parent), last) {
                (Value::Object(m), Value::String(k)) => {
                    m.remove(k);
                }
                (Value::Array(a), Value::Number(i)) => {
                    a.remove(i.as_u64().unwrap() as usize);
                }
                _ => {}
            }
            format!("removed {where_}")
        }
        1 => {
            let target = at_path(conf, &path);
            let key = *rng.pick(&EXTRA_KEYS);
            let value = odd_value(rng);
            let text = format!("{key}={value}");
            if let Value::Object(m) = target {
                m.insert(key.to_string(), value);
            } else if let Value::Array(a) = target {
                a.push(value);
            }
            format!("added {text} at {where_}")
        }
        2 => {
            let target = at_path(conf, &path);
            if let Value::Array(a) = target {
                if let Some(first) = a.first().cloned() {
                    a.push(first);
                }
            } else if let Value::String(s) = target {
                let cut = rng.below(s.len() + 1);
                *s = s.chars().take(cut).collect();
            } else {
                *target = odd_value(rng);
            }
            format!("reshaped {where_}")
        }
        _ => {
            let value = odd_value(rng);
            let text = value.to_string();
            *at_path(conf, &path) = value;
            format!("set {where_} to {:.60}", text)
        }
    }
}

/// One byte-level mutation of stdin: truncation, invalid UTF-8, garbage.
fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>) -> String {
    let at = rng.below(bytes.len() + 1);
    match rng.below(5) {
        0 => {
            bytes.truncate(at);
            format!("truncated at {at}")
        }
        1 => {
            bytes.insert(at, *rng.pick(&[0xff, 0xc3, 0x80, 0xed]));
            format!("invalid UTF-8 at {at}")
        }
        2 if at < bytes.len() => {
            bytes[at] ^= 1 << rng.below(8);
            format!("bit flip at {at}")
        }
        3 => {
            bytes.splice(0..0, [0xef, 0xbb, 0xbf]);
            "byte-order mark".into()
        }
        _ => {
            bytes.extend_from_slice(b"}garbage");
            "trailing garbage".into()
        }
    }
}

/// One odd environment change.
fn mutate_env(rng: &mut Rng) -> (String, Option<String>) {
    let long = "c".repeat(300);
    let changes: Vec<(&str, Option<&str>)> = vec![
        ("CNI_COMMAND", None),
        ("CNI_COMMAND", Some("add")),
        ("CNI_COMMAND", Some("FOO")),
        ("CNI_CONTAINERID", None),
        ("CNI_CONTAINERID", Some("")),
        ("CNI_CONTAINERID", Some("../x")),
        ("CNI_CONTAINERID", Some("a b:c")),
        ("CNI_CONTAINERID", Some(&long)),
        ("CNI_IFNAME", None),
        ("CNI_IFNAME", Some("")),
        ("CNI_IFNAME", Some("a/b")),
        ("CNI_IFNAME", Some("..")),
        ("CNI_IFNAME", Some("sixteen-bytes-xx")),
        ("CNI_NETNS", None),
        ("CNI_NETNS", Some("")),
        ("CNI_NETNS", Some("/nonexistent/ns")),
        ("CNI_NETNS", Some("relative/ns")),
        ("CNI_NETNS", Some("/proc/self/ns/mnt")),
        ("CNI_PATH", None),
        ("CNI_PATH", Some("")),
        ("CNI_PATH", Some("::/nonexistent")),
        ("CNI_ARGS", Some("IgnoreUnknown=1;X")),
        ("CNI_ARGS", Some("=;;")),
        ("CNI_ARGS", Some("K=V=W;IP=999.1.1.1;MAC=zz")),
        (
            "CNI_ARGS",
            Some("K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_UID=u"),
        ),
    ];
    let (var, value) = rng.pick(&changes);
    (var.to_string(), value.map(str::to_string))
}

/// Why `stdin` is invalid syntax for `plugin`, if it is.
fn invalid_syntax(plugin: Plugin, stdin: &[u8]) -> Option<String> {
    let conf = match serde_json::from_slice::<Value>(stdin) {
        Err(e) => return Some(format!("not JSON: {e}")),
        Ok(Value::Object(conf)) => conf,
        Ok(other) => return Some(format!("not an object: {:.40}", other.to_string())),
    };
    if !conf.get("name").is_some_and(Value::is_string) {
        return Some("name: missing or not a string".into());
    }
    for (field, kind) in typed_fields(plugin) {
        if let Some(v) = conf.get(*field) {
            if !kind.accepts(v) {
                return Some(format!("{field}: {kind:?} expected, found {v:.40}"));
            }
        }
    }
    outside_syntax(plugin, &conf)
}

/// A field whose value has the right JSON type but not the field's syntax.
fn outside_syntax(plugin: Plugin, conf: &Map<String, Value>) -> Option<String> {
    let bad = |field: &str, ok: &dyn Fn(&Value) -> bool| {
        conf.get(field)
            .filter(|v| !v.is_null() && !ok(v))
            .map(|v| format!("{field}: {v:.40} is outside its syntax"))
    };
    let int_in =
        |lo: i64, hi: i64| move |v: &Value| v.as_i64().is_some_and(|n| (lo..=hi).contains(&n));
    let one_of = |names: &'static [&'static str]| {
        move |v: &Value| v.as_str().is_some_and(|s| names.contains(&s))
    };
    let mac = |v: &Value| {
        v.as_str().is_some_and(|s| {
            let parts: Vec<&str> = s.split(':').collect();
            parts.len() == 6
                && parts
                    .iter()
                    .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
        })
    };
    match plugin {
        Plugin::Multus => bad("readinessindicatortimeout", &|v| {
            v.as_f64().is_some_and(|t| t >= 0.0)
        }),
        Plugin::Sriov => bad("vlan", &int_in(0, 4094))
            .or_else(|| bad("vlanQoS", &int_in(0, 7)))
            .or_else(|| bad("vf", &int_in(0, i64::MAX)))
            .or_else(|| bad("mac", &mac))
            .or_else(|| bad("spoofchk", &one_of(&["on", "off"])))
            .or_else(|| bad("trust", &one_of(&["on", "off"])))
            .or_else(|| bad("link_state", &one_of(&["auto", "enable", "disable"]))),
    }
}

/// Every input for `plugin`: the seeds as they are, then mutations of them.
fn cases(plugin: Plugin, rng: &mut Rng, tree: &FakeTree, scratch: &Scratch) -> Vec<Case> {
    let mut seeds: Vec<(String, Vec<u8>)> = match plugin {
        Plugin::Multus => SEED_MULTUS
            .iter()
            .map(|s| ("seed".into(), s.as_bytes().to_vec()))
            .collect(),
        Plugin::Sriov => SEED_SRIOV
            .iter()
            .map(|s| ("seed".into(), s.as_bytes().to_vec()))
            .collect(),
    };
    seeds.extend(
        readme_examples(plugin)
            .into_iter()
            .map(|s| ("README".into(), s.into_bytes())),
    );
    let working = seeds.len();
    seeds.extend(
        working_seeds(plugin, tree, scratch)
            .into_iter()
            .map(|v| ("test".into(), serde_json::to_vec(&v).unwrap())),
    );
    let mut out: Vec<Case> = seeds
        .iter()
        .map(|(origin, stdin)| Case {
            id: 0,
            plugin,
            label: format!("{origin} verbatim"),
            stdin: stdin.clone(),
            env: Vec::new(),
            invalid: invalid_syntax(plugin, stdin),
        })
        .collect();
    while out.len() < CASES_PER_PLUGIN {
        // Half the mutations start from the seeds that get past the first checks.
        let (origin, stdin) = if rng.chance(50) {
            rng.pick(&seeds[working..]).clone()
        } else {
            rng.pick(&seeds).clone()
        };
        let mut stdin = stdin;
        let mut steps = Vec::new();
        if rng.chance(80) {
            let mut conf: Value = serde_json::from_slice(&stdin).unwrap();
            for _ in 0..=rng.below(3) {
                steps.push(mutate_value(rng, &mut conf));
            }
            stdin = serde_json::to_vec(&conf).unwrap();
        }
        if rng.chance(20) {
            steps.push(mutate_bytes(rng, &mut stdin));
        }
        let mut env = Vec::new();
        if rng.chance(30) {
            let change = mutate_env(rng);
            steps.push(format!("env {}={:?}", change.0, change.1));
            env.push(change);
        }
        let invalid = invalid_syntax(plugin, &stdin);
        out.push(Case {
            id: 0,
            plugin,
            label: format!("{origin}: {}", steps.join(", ")),
            stdin,
            env,
            invalid,
        });
    }
    out
}

/// The outcome of one call that breaks a rule.
#[derive(Debug)]
struct Finding {
    plugin: Plugin,
    command: &'static str,
    rule: &'static str,
    label: String,
    stdin: String,
    detail: String,
}

/// Where calls run: the fake tree's seams and a working directory.
struct Sandbox {
    tree_env: Vec<(String, String)>,
    cwd: PathBuf,
}

/// A network namespace held by a `sleep` process: one pod, killed on drop.
struct PodNetns(Child);

impl PodNetns {
    fn new() -> PodNetns {
        let child = Command::new("unshare")
            .args(["--net", "sleep", "600"])
            .spawn()
            .unwrap();
        let pod = PodNetns(child);
        // unshare(1) execs sleep once the namespace exists.
        let exe = PathBuf::from(format!("/proc/{}/exe", pod.0.id()));
        let started = Instant::now();
        while std::fs::read_link(&exe).map_or(true, |p| !p.ends_with("sleep")) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "unshare did not start"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        pod
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.0.id()))
    }
}

impl Drop for PodNetns {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Sandbox {
    fn spawn(&self, case: &Case, command: &str, stdin: &[u8], netns: &Path) -> Child {
        let binary = match case.plugin {
            Plugin::Multus => multus_bin(),
            Plugin::Sriov => sriov_bin(),
        };
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .current_dir(&self.cwd)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", format!("fuzz{}", case.id))
            .env("CNI_NETNS", netns)
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", cni_path())
            .envs(self.tree_env.iter().cloned());
        for (var, value) in &case.env {
            match value {
                Some(v) => cmd.env(var, v),
                None => cmd.env_remove(var),
            };
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let bytes = stdin.to_vec();
        let mut stdin = child.stdin.take().unwrap();
        // A plugin may exit without reading stdin: write on the side and ignore EPIPE.
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&bytes);
        });
        child
    }

    /// Runs `case` for every command in turn (CHECK gets ADD's result as `prevResult`); the exit
    /// code of each (`None`: no exit) and the rules broken.
    fn run(&self, case: &Case) -> Vec<(&'static str, Option<i32>, Vec<Finding>)> {
        let pod = PodNetns::new();
        let mut outcomes = Vec::new();
        let mut added: Option<Value> = None;
        for command in COMMANDS {
            let stdin = match (&added, command) {
                (Some(result), "CHECK") => {
                    let mut conf: Value = serde_json::from_slice(&case.stdin).unwrap();
                    conf["prevResult"] = result.clone();
                    serde_json::to_vec(&conf).unwrap()
                }
                _ => case.stdin.clone(),
            };
            let (code, stdout, found) = self.check(case, command, &stdin, &pod.path());
            if command == "ADD" && code == Some(0) {
                added = serde_json::from_slice::<Value>(&stdout)
                    .ok()
                    .filter(|_| serde_json::from_slice::<Map<String, Value>>(&case.stdin).is_ok());
            }
            outcomes.push((command, code, found));
        }
        outcomes
    }

    /// Runs `case` for `command` with `stdin`; its exit code, stdout and the rules it broke.
    fn check(
        &self,
        case: &Case,
        command: &'static str,
        stdin: &[u8],
        netns: &Path,
    ) -> (Option<i32>, Vec<u8>, Vec<Finding>) {
        let mut child = self.spawn(case, command, stdin, netns);
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if started.elapsed() > CALL_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let mut stdout = Vec::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_end(&mut stdout)
            .unwrap();
        let mut stderr = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
        let finding = |rule: &'static str, detail: String| Finding {
            plugin: case.plugin,
            command,
            rule,
            label: case.label.clone(),
            stdin: String::from_utf8_lossy(&case.stdin)
                .chars()
                .take(400)
                .collect(),
            detail,
        };
        let Some(status) = status else {
            let waiting = serde_json::from_slice::<Value>(stdin)
                .ok()
                .and_then(|c| c["readinessindicatorfile"].as_str().map(PathBuf::from))
                .is_some_and(|file| !file.as_os_str().is_empty() && !file.exists());
            let found = if waiting && case.plugin == Plugin::Multus {
                Vec::new()
            } else {
                vec![finding("hang", format!("no exit after {CALL_LIMIT:?}"))]
            };
            return (None, stdout, found);
        };
        let mut found = Vec::new();
        if let Some(signal) = status.signal() {
            found.push(finding("signal", format!("killed by signal {signal}")));
        }
        if status.code() == Some(101) {
            let first = stderr.lines().take(3).collect::<Vec<_>>().join(" | ");
            found.push(finding("panic", first));
        }
        if !status.success() {
            let json: Option<Map<String, Value>> = serde_json::from_slice(&stdout).ok();
            let well_formed = json.as_ref().is_some_and(|j| {
                j.get("code").is_some_and(Value::is_u64)
                    && j.get("msg").is_some_and(Value::is_string)
            });
            if !well_formed {
                found.push(finding(
                    "no error JSON",
                    format!("exit {status}: {:.200}", String::from_utf8_lossy(&stdout)),
                ));
            } else if stderr.contains("panicked at") {
                found.push(finding(
                    "panic",
                    stderr.lines().take(2).collect::<Vec<_>>().join(" | "),
                ));
            }
        } else if command != "VERSION" {
            if let Some(why) = &case.invalid {
                found.push(finding("exit 0 on invalid syntax", why.clone()));
            }
        }
        (status.code(), stdout, found)
    }
}

/// The repository and the directory of the binaries under test, where they lie under a directory the
/// sandbox replaces with a tmpfs (outermost only).
fn kept_paths() -> Vec<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let bins = multus_bin().parent().unwrap().to_path_buf();
    let mut kept: Vec<PathBuf> = Vec::new();
    for path in [repo, bins] {
        let replaced = path.starts_with("/tmp") || path.starts_with("/var/lib");
        if replaced && !kept.iter().any(|k| path.starts_with(k)) {
            kept.push(path);
        }
    }
    kept
}

/// Enters a new network and mount namespace (this thread and what it starts), makes every mount
/// read-only, mounts the namespace's own sysfs (read-only) and fresh tmpfs on `/tmp` and `/var/lib`;
/// checks that the repository is unwritable.
fn enter_sandbox() {
    require_root();
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS | nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("unshare mount and network namespaces");
    sh("mount", &["--make-rprivate", "/"]);
    let mounts = std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap();
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (point, fstype) = (
            fields[4],
            fields[fields.iter().position(|f| *f == "-").unwrap() + 1],
        );
        let virtual_fs = [
            "proc", "nsfs", "cgroup", "cgroup2", "devpts", "devtmpfs", "mqueue",
        ];
        if point.starts_with("/proc") || point.starts_with("/dev") || virtual_fs.contains(&fstype) {
            continue;
        }
        let point = point.replace("\\040", " ");
        let ok = Command::new("mount")
            .args(["-o", "remount,bind,ro", &point])
            .status()
            .unwrap()
            .success();
        assert!(ok || point != "/", "cannot make / read-only in the sandbox");
    }
    // The sandbox's own links in /sys/class/net (read-only too).
    sh("mount", &["-t", "sysfs", "-o", "ro", "sysfs", "/sys"]);
    // The repository and the binaries under test may live under /tmp (a clone there): held open
    // across the fresh tmpfs and bound back, read-only, at their own paths.
    let held: Vec<(PathBuf, std::fs::File)> = kept_paths()
        .into_iter()
        .map(|p| {
            let dir = std::fs::File::open(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, dir)
        })
        .collect();
    for dir in ["/tmp", "/var/lib"] {
        sh("mount", &["-t", "tmpfs", "-o", "mode=1777", "fuzz", dir]);
    }
    for (path, dir) in &held {
        use nix::mount::{mount, MsFlags};
        use std::os::fd::AsRawFd;
        std::fs::create_dir_all(path).unwrap();
        let source = PathBuf::from(format!("/proc/thread-self/fd/{}", dir.as_raw_fd()));
        mount(Some(&source), path, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .unwrap_or_else(|e| panic!("bind {} back: {e}", path.display()));
        let read_only = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(None::<&str>, path, None::<&str>, read_only, None::<&str>)
            .unwrap_or_else(|e| panic!("make {} read-only: {e}", path.display()));
    }
    let probe = Path::new(env!("CARGO_MANIFEST_DIR")).join(".config-fuzz-probe");
    assert!(
        std::fs::write(&probe, "x").is_err(),
        "the sandbox must keep the repository read-only"
    );
    sh("ip", &["link", "set", "lo", "up"]);
}

#[test]
fn mutated_configs_and_env_never_panic_and_always_explain_failures() {
    let started = Instant::now();
    let findings: Vec<Finding> = std::thread::spawn(|| {
        enter_sandbox();
        let mut tree = FakeTree::new();
        tree.add_pf(3);
        let scratch = Scratch::new();
        std::fs::write(scratch.join("ready"), "").unwrap();
        let sandbox = Sandbox {
            tree_env: tree.env(),
            cwd: scratch.dir.clone(),
        };
        let mut rng = Rng(SEED);
        let mut all = cases(Plugin::Multus, &mut rng, &tree, &scratch);
        all.extend(cases(Plugin::Sriov, &mut rng, &tree, &scratch));
        for (id, case) in all.iter_mut().enumerate() {
            case.id = id;
        }
        let invalid = all.iter().filter(|c| c.invalid.is_some()).count();
        println!(
            "{} inputs ({invalid} invalid syntax), {} calls",
            all.len(),
            all.len() * COMMANDS.len()
        );
        let next = std::sync::atomic::AtomicUsize::new(0);
        let found = std::sync::Mutex::new(Vec::new());
        let exits = std::sync::Mutex::new(BTreeMap::<(Plugin, &str, bool), usize>::new());
        std::thread::scope(|s| {
            for _ in 0..WORKERS {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(case) = all.get(i) else {
                        break;
                    };
                    for (command, code, broke) in sandbox.run(case) {
                        *exits
                            .lock()
                            .unwrap()
                            .entry((case.plugin, command, code == Some(0)))
                            .or_default() += 1;
                        found.lock().unwrap().extend(broke);
                    }
                });
            }
        });
        for ((plugin, command, ok), n) in exits.into_inner().unwrap() {
            println!(
                "{plugin:?} {command}: {n} exited {}",
                if ok { "0" } else { "non-zero" }
            );
        }
        found.into_inner().unwrap()
    })
    .join()
    .unwrap();

    let mut counts: BTreeMap<(Plugin, &str, &str), usize> = BTreeMap::new();
    for f in &findings {
        *counts.entry((f.plugin, f.command, f.rule)).or_default() += 1;
    }
    for ((plugin, command, rule), n) in &counts {
        println!("{plugin:?} {command}: {rule}: {n}");
    }
    for f in findings.iter().take(40) {
        println!(
            "--- {:?} {} [{}] {}\n    {}\n    stdin: {}",
            f.plugin, f.command, f.rule, f.label, f.detail, f.stdin
        );
    }
    println!("finished in {:.1?}", started.elapsed());
    assert!(
        findings.is_empty(),
        "{} calls broke a rule (listed above)",
        findings.len()
    );
}
