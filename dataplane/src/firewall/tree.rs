//! The compiled classifier: a HiCuts-style decision tree over the rule boxes of one table.
//!
//! Each inner node cuts one dimension of its region into 2^k equal cells (k <= 16, as large as HiCuts'
//! space measure allows: the children's rule references plus the cells at most 8 times the node's rules),
//! so descending is a subtraction and a shift, not a search. The dimension and k are chosen to make the
//! largest child smallest. Each leaf holds at most [`LEAF_RULES`] rule indices in priority order and is
//! scanned; the first box that matches is the first rule that matches. While building, a node's rule list
//! is cut short after the first rule that covers the node's whole region (nothing after it can win there),
//! and cells outside the span of the node's rules answer "no match" without a leaf. Lookup cost is the
//! tree depth plus a short scan, which grows with the logarithm of the rule count at worst.
//!
//! Rule sets that defeat cutting (many rules overlapping on every dimension) are bounded by
//! [`MAX_DEPTH`] and a budget of stored cells and rule references (64 per rule): past it, nodes become
//! plain leaves, so the worst case degrades towards a linear scan instead of exhausting memory.

use super::matcher::{Key, PackedRule, Range, RuleBox, DIMS};

/// A leaf holds at most this many rules (unless cutting stopped making progress).
pub const LEAF_RULES: usize = 4;
/// Deepest node the builder creates.
pub const MAX_DEPTH: usize = 24;
/// Most cells one node cuts its dimension into (as a power of two).
const MAX_CUT_BITS: u32 = 16;
/// A cut's children may hold at most this many times the node's rules, counting rule references and cells.
const SPACE_FACTOR: usize = 8;
/// Cells and rule references the whole tree may store, per rule, before nodes become plain leaves.
const REFS_PER_RULE: usize = 64;

/// What lies below one cell of a cut (or at the root), in 32 bits: a cut node's index with [`CUT_BIT`]
/// set, or the index in `leaves` where a leaf's run of rules starts (the run ends at a rule marked last).
#[derive(Debug, Clone, Copy)]
struct Child(u32);

const CUT_BIT: u32 = 1 << 31;

/// The leaf with no rules, shared by every cell that no rule reaches: `leaves[0]` never matches.
const EMPTY_LEAF: Child = Child(0);

/// Cuts dimension `dim` of `[lo, ...]` into `count` cells of width `1 << shift`; their children start at
/// `first` in `children`.
#[derive(Debug, Clone)]
struct CutNode {
    lo: u128,
    shift: u32,
    count: u32,
    first: u32,
    dim: u8,
}

/// A decision tree over the boxes of one table's rules.
#[derive(Debug, Clone)]
pub struct Tree {
    cuts: Vec<CutNode>,
    children: Vec<Child>,
    leaves: Vec<PackedRule>,
    root: Child,
    stats: TreeStats,
}

/// Size figures of a built tree, for benchmarks and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeStats {
    /// Number of inner (cut) nodes.
    pub cuts: usize,
    /// Rule copies stored in leaves.
    pub leaf_refs: usize,
    /// Length of the longest root-to-leaf path.
    pub depth: usize,
    /// Largest leaf.
    pub max_leaf: usize,
}

impl Tree {
    /// Builds the tree for `boxes` in priority order (`None` = a rule that never matches).
    pub fn build(boxes: &[Option<RuleBox>]) -> Tree {
        let mut tree = Tree {
            cuts: Vec::new(),
            children: Vec::new(),
            leaves: vec![PackedRule::never()],
            root: EMPTY_LEAF,
            stats: TreeStats::default(),
        };
        let live: Vec<u32> = (0..boxes.len() as u32)
            .filter(|&i| boxes[i as usize].is_some())
            .collect();
        let budget = REFS_PER_RULE * live.len().max(1024);
        let mut builder = Builder {
            tree: &mut tree,
            boxes,
            stored: 0,
            budget,
        };
        let root = builder.node(live, [Range::FULL; DIMS], 0);
        tree.root = root;
        tree.stats.cuts = tree.cuts.len();
        tree.stats.leaf_refs = tree.leaves.len() - 1;
        tree
    }

    /// Index of the first rule matching `key`, if any.
    pub fn lookup(&self, key: &Key) -> Option<usize> {
        let mut at = self.root.0;
        while at & CUT_BIT != 0 {
            let cut = &self.cuts[(at & !CUT_BIT) as usize];
            let cell = key.values[cut.dim as usize].checked_sub(cut.lo)? >> cut.shift;
            if cell >= cut.count as u128 {
                return None;
            }
            at = self.children[cut.first as usize + cell as usize].0;
        }
        for rule in &self.leaves[at as usize..] {
            if rule.matches(key) {
                return Some(rule.rule as usize);
            }
            if rule.is_last() {
                return None;
            }
        }
        None
    }

    /// Size figures of the tree.
    pub fn stats(&self) -> TreeStats {
        self.stats
    }
}

/// One candidate cut of a node.
#[derive(Debug, Clone, Copy)]
struct Cut {
    dim: usize,
    lo: u128,
    hi: u128,
    shift: u32,
    count: usize,
    max_child: usize,
    total: usize,
}

/// Rules grouped by cell: cell `i` holds `rules[starts[i] .. starts[i + 1]]`.
struct ByCell {
    starts: Vec<usize>,
    rules: Vec<u32>,
}

struct Builder<'a> {
    tree: &'a mut Tree,
    boxes: &'a [Option<RuleBox>],
    /// Cells and leaf rule references stored so far.
    stored: usize,
    budget: usize,
}

impl Builder<'_> {
    fn node(&mut self, mut rules: Vec<u32>, region: [Range; DIMS], depth: usize) -> Child {
        self.tree.stats.depth = self.tree.stats.depth.max(depth);
        if let Some(pos) = rules.iter().position(|&r| self.rule_box(r).covers(&region)) {
            rules.truncate(pos + 1);
        }
        if rules.is_empty() {
            return EMPTY_LEAF;
        }
        let cut = if rules.len() <= LEAF_RULES || depth >= MAX_DEPTH || self.stored >= self.budget {
            None
        } else {
            self.best_cut(&rules, &region)
        };
        let Some(cut) = cut else {
            return self.leaf(&rules);
        };
        self.stored += cut.count;
        let by_cell = self.distribute(&rules, &cut, &region);
        let mut child_nodes = Vec::with_capacity(cut.count);
        for cell in 0..cut.count {
            let cell_lo = cut.lo + ((cell as u128) << cut.shift);
            let cell_hi = cell_lo.saturating_add((1u128 << cut.shift) - 1).min(cut.hi);
            let mut child_region = region;
            child_region[cut.dim] = Range {
                lo: cell_lo,
                hi: cell_hi,
            };
            let child_rules =
                by_cell.rules[by_cell.starts[cell]..by_cell.starts[cell + 1]].to_vec();
            child_nodes.push(self.node(child_rules, child_region, depth + 1));
        }
        let first = self.tree.children.len() as u32;
        self.tree.children.extend(child_nodes);
        self.tree.cuts.push(CutNode {
            lo: cut.lo,
            shift: cut.shift,
            count: cut.count as u32,
            first,
            dim: cut.dim as u8,
        });
        Child(CUT_BIT | (self.tree.cuts.len() - 1) as u32)
    }

    /// The cells of `cut` that rule `r` overlaps, as a range of cell indices.
    fn cells_of(&self, r: u32, cut: &Cut, region: &[Range; DIMS]) -> (usize, usize) {
        let c = self.rule_box(r).ranges[cut.dim]
            .intersect(&region[cut.dim])
            .expect("rules overlap their node");
        (
            ((c.lo.max(cut.lo) - cut.lo) >> cut.shift) as usize,
            ((c.hi.min(cut.hi) - cut.lo) >> cut.shift) as usize,
        )
    }

    /// Each cell's rules, in priority order, by one pass over the rules (a counting sort).
    fn distribute(&self, rules: &[u32], cut: &Cut, region: &[Range; DIMS]) -> ByCell {
        let spans: Vec<(usize, usize)> = rules
            .iter()
            .map(|&r| self.cells_of(r, cut, region))
            .collect();
        let mut starts = vec![0usize; cut.count + 1];
        for &(a, b) in &spans {
            (a..=b).for_each(|cell| starts[cell + 1] += 1);
        }
        for cell in 0..cut.count {
            starts[cell + 1] += starts[cell];
        }
        let mut fill = starts.clone();
        let mut sorted = vec![0u32; starts[cut.count]];
        for (&r, &(a, b)) in rules.iter().zip(&spans) {
            for cell in a..=b {
                sorted[fill[cell]] = r;
                fill[cell] += 1;
            }
        }
        ByCell {
            starts,
            rules: sorted,
        }
    }

    fn rule_box(&self, r: u32) -> &RuleBox {
        self.boxes[r as usize]
            .as_ref()
            .expect("only live rules are placed in the tree")
    }

    fn leaf(&mut self, rules: &[u32]) -> Child {
        self.stored += rules.len();
        let start = self.tree.leaves.len() as u32;
        for (i, &rule) in rules.iter().enumerate() {
            self.tree.leaves.push(PackedRule::new(
                rule,
                self.rule_box(rule),
                i + 1 == rules.len(),
            ));
        }
        self.tree.stats.max_leaf = self.tree.stats.max_leaf.max(rules.len());
        Child(start)
    }

    /// The cut with the smallest largest child among those within the space factor, if any makes progress.
    fn best_cut(&self, rules: &[u32], region: &[Range; DIMS]) -> Option<Cut> {
        let mut best: Option<Cut> = None;
        for (dim, dim_region) in region.iter().enumerate() {
            let clipped = |r: u32| {
                self.rule_box(r).ranges[dim]
                    .intersect(dim_region)
                    .expect("rules overlap their node")
            };
            let lo = rules.iter().map(|&r| clipped(r).lo).min()?;
            let hi = rules.iter().map(|&r| clipped(r).hi).max()?;
            if lo == hi {
                continue;
            }
            let width_bits = 128 - (hi - lo).leading_zeros();
            for bits in 1..=MAX_CUT_BITS.min(width_bits) {
                let shift = width_bits - bits;
                let count = ((hi - lo) >> shift) as usize + 1;
                let mut starts = vec![0isize; count + 1];
                let mut total = 0;
                for &r in rules {
                    let c = clipped(r);
                    let (a, b) = (
                        ((c.lo - lo) >> shift) as usize,
                        ((c.hi - lo) >> shift) as usize,
                    );
                    starts[a] += 1;
                    starts[b + 1] -= 1;
                    total += b - a + 1;
                }
                let (mut running, mut max_child) = (0isize, 0usize);
                for delta in &starts[..count] {
                    running += *delta;
                    max_child = max_child.max(running as usize);
                }
                if total + count > SPACE_FACTOR * rules.len() {
                    break;
                }
                let candidate = Cut {
                    dim,
                    lo,
                    hi,
                    shift,
                    count,
                    max_child,
                    total,
                };
                let better = best.is_none_or(|b| {
                    (candidate.max_child, candidate.total) < (b.max_child, b.total)
                });
                if better {
                    best = Some(candidate);
                }
            }
        }
        best.filter(|b| b.max_child < rules.len())
    }
}
