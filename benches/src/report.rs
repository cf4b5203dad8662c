//! The `throughput` harness's results as data: per-case samples of every side, the statistics its
//! tables print, a JSON file, and a chart (PNG and SVG) of Mpps and ns/packet per case.

use plotters::prelude::*;
use serde_json::json;
use std::path::Path;

/// Per-second Mpps samples of one side of a case.
pub struct Side {
    /// Who ran, e.g. `l3fwd-acl`.
    pub name: String,
    /// Steady per-second rates (Mpps).
    pub samples: Vec<f64>,
}

/// One measured case: every side's samples and the ratio judged against its target.
pub struct Case {
    /// The workload the case belongs to, e.g. `acl`.
    pub workload: String,
    /// The case within it, e.g. `fw 10000`.
    pub label: String,
    /// Every side, ours first.
    pub sides: Vec<Side>,
    /// The judged ratio (ours / baseline median Mpps), its target as text, and whether it is met.
    pub verdict: Option<(f64, String, bool)>,
}

/// The median (upper median for an even count); NaN for no samples.
pub fn median(s: &[f64]) -> f64 {
    let mut v = s.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The smallest sample.
pub fn min(s: &[f64]) -> f64 {
    s.iter().copied().fold(f64::INFINITY, f64::min)
}

/// The largest sample.
pub fn max(s: &[f64]) -> f64 {
    s.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// `met` or `not met`.
pub fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "not met"
    }
}

/// The results as JSON: the run's settings (`meta`) and, per case and side, the samples, median,
/// spread and ns/packet.
pub fn to_json(meta: serde_json::Value, cases: &[Case]) -> serde_json::Value {
    let cases: Vec<_> = cases
        .iter()
        .map(|c| {
            let sides: Vec<_> = c
                .sides
                .iter()
                .map(|s| {
                    json!({
                        "name": s.name,
                        "median_mpps": median(&s.samples),
                        "min_mpps": min(&s.samples),
                        "max_mpps": max(&s.samples),
                        "ns_per_packet": 1e3 / median(&s.samples),
                        "samples_mpps": s.samples,
                    })
                })
                .collect();
            let verdict = c
                .verdict
                .as_ref()
                .map(|(ratio, target, ok)| json!({"ratio": ratio, "target": target, "met": ok}));
            json!({"workload": c.workload, "case": c.label, "sides": sides, "verdict": verdict})
        })
        .collect();
    json!({"meta": meta, "cases": cases})
}

/// The cases of a file [`to_json`] wrote (verdicts left out), to draw its chart again.
pub fn from_json(json: &serde_json::Value) -> Result<Vec<Case>, String> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string).ok_or("not a string");
    let mut cases = Vec::new();
    for c in json["cases"].as_array().ok_or("no cases")? {
        let mut sides = Vec::new();
        for s in c["sides"].as_array().ok_or("no sides")? {
            let samples = s["samples_mpps"].as_array().ok_or("no samples")?;
            sides.push(Side {
                name: text(&s["name"])?,
                samples: samples
                    .iter()
                    .filter_map(serde_json::Value::as_f64)
                    .collect(),
            });
        }
        cases.push(Case {
            workload: text(&c["workload"])?,
            label: text(&c["case"])?,
            sides,
            verdict: None,
        });
    }
    Ok(cases)
}

/// The font the PNG's text is drawn with (Debian `fonts-dejavu-core`); the SVG names a family only.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Registers the font as plotters' `sans-serif` (plotters is built without a system font lookup):
/// our charts and criterion's HTML report plots draw their text with it.
pub fn register_font() -> Result<(), String> {
    let font = std::fs::read(FONT).map_err(|e| format!("{FONT}: {e}"))?;
    plotters::style::register_font(
        "sans-serif",
        FontStyle::Normal,
        Box::leak(font.into_boxed_slice()),
    )
    .map_err(|_| format!("{FONT}: not a font plotters can read"))
}

/// Draws median Mpps (with min-max whiskers) and ns/packet of every side of every case, as `stem.png`
/// and `stem.svg`.
pub fn chart(cases: &[Case], title: &str, stem: &Path) -> Result<(), String> {
    register_font()?;
    let size = (1200, 300 + 60 * cases.len() as u32);
    let png = stem.with_extension("png");
    let svg = stem.with_extension("svg");
    draw(
        BitMapBackend::new(&png, size).into_drawing_area(),
        cases,
        title,
    )
    .map_err(|e| format!("{}: {e}", png.display()))?;
    draw(
        SVGBackend::new(&svg, size).into_drawing_area(),
        cases,
        title,
    )
    .map_err(|e| format!("{}: {e}", svg.display()))
}

/// One colour per side name, in order of first appearance.
fn colour(i: usize) -> RGBColor {
    const PALETTE: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
    ];
    PALETTE[i % PALETTE.len()]
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(
    area: DrawingArea<DB, plotters::coord::Shift>,
    cases: &[Case],
    title: &str,
) -> DrawResult<DB> {
    area.fill(&WHITE)?;
    let area = area.titled(title, ("sans-serif", 22))?;
    let mut names: Vec<&str> = Vec::new();
    for s in cases.iter().flat_map(|c| &c.sides) {
        if !names.contains(&s.name.as_str()) {
            names.push(&s.name);
        }
    }
    let (legend, area) = area.split_vertically(60);
    let width = legend.dim_in_pixel().0 as i32;
    let (mut x, mut y) = (20, 8);
    for (i, name) in names.iter().enumerate() {
        let step = 40 + 8 * name.len() as i32;
        if x + step > width {
            (x, y) = (20, y + 24);
        }
        legend.draw(&Rectangle::new(
            [(x, y), (x + 14, y + 14)],
            colour(i).filled(),
        ))?;
        legend.draw(&Text::new(
            name.to_string(),
            (x + 20, y),
            ("sans-serif", 15),
        ))?;
        x += step;
    }
    let (left, right) = area.split_horizontally(area.dim_in_pixel().0 / 2);
    panel(&left, cases, &names, "Mpps (median, min-max)", |s| {
        (median(s), min(s), max(s))
    })?;
    panel(&right, cases, &names, "ns per packet (median)", |s| {
        let ns = 1e3 / median(s);
        (ns, ns, ns)
    })
}

/// Horizontal grouped bars on a log scale (the kernel path is thousands of times slower): one group
/// per case, one bar per side.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    cases: &[Case],
    names: &[&str],
    caption: &str,
    value: impl Fn(&[f64]) -> (f64, f64, f64),
) -> DrawResult<DB> {
    let values: Vec<(f64, f64, f64)> = cases
        .iter()
        .flat_map(|c| &c.sides)
        .map(|s| value(&s.samples))
        .filter(|v| v.0.is_finite() && v.1 > 0.0)
        .collect();
    let top = values.iter().map(|v| v.2).fold(1.0, f64::max) * 2.0;
    let floor = values.iter().map(|v| v.1).fold(top, f64::min) / 2.0;
    let rows = cases.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(10)
        .build_cartesian_2d((floor..top).log_scale(), 0.0..rows)?;
    chart.configure_mesh().disable_y_mesh().y_labels(0).draw()?;
    // Each row: the case's name on top, then one bar per side.
    let most = cases
        .iter()
        .map(|c| c.sides.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let band = 0.55 / most as f64;
    for (row, case) in cases.iter().enumerate() {
        let name = format!("{}: {}", case.workload, case.label);
        let at = (floor, rows - row as f64 - 0.05);
        chart.draw_series(std::iter::once(Text::new(name, at, ("sans-serif", 14))))?;
        for (j, side) in case.sides.iter().enumerate() {
            let i = names.iter().position(|n| *n == side.name).unwrap_or(0);
            let (mid, lo, hi) = value(&side.samples);
            let y0 = rows - row as f64 - 0.85 + band * (case.sides.len() - 1 - j) as f64;
            let colour = colour(i);
            chart.draw_series(std::iter::once(Rectangle::new(
                [(floor, y0), (mid, y0 + band)],
                colour.filled(),
            )))?;
            if hi > lo {
                let y = y0 + band / 2.0;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(lo, y), (hi, y)],
                    BLACK.stroke_width(2),
                )))?;
            }
        }
    }
    Ok(())
}
