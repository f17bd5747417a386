//! `plot FILES... -o OUT.svg`: results drawn for people (plotters, SVG only:
//! no font files, no image libraries; text is SVG text, drawn by the viewer).
//!
//! - From results (`.json`): the latency percentile spectrum of each, as
//!   HdrHistogram's plotter draws it: x is the percentile on the
//!   1/(1-p) log scale (each tick one more nine: 90%, 99%, 99.9%, ...), so
//!   the tail gets as much room as the median; y is the RTT in
//!   milliseconds, on a log scale too (whole decades), so that a 200 µs
//!   median and a 2 s tail are both readable. One line per file, labelled
//!   by scenario and file; the title names the scenarios.
//! - From interval logs (`.hlog`): replies per second and the p99 RTT of
//!   each whole second, over time (the partial last second is left out).
//!   One line per file and tag, named by the scenario the log records.

use std::path::{Path, PathBuf};

use clap::Args;
use hdrhistogram::Histogram;
use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::coord::CoordTranslate;
use plotters::prelude::{
    ChartBuilder, ChartContext, Color, DrawingArea, IntoDrawingArea, LineSeries, PathElement, RGBColor, SVGBackend,
    SeriesLabelPosition, BLACK, WHITE,
};

use super::Verdict;
use crate::error::Error;
use crate::results::hlog::{read_hlog, Interval};
use crate::results::schema::{read_json, RunResult};
use crate::results::stats::Series;

/// `plot`'s arguments.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Results (`.json`: percentile spectra) and interval logs (`.hlog`:
    /// throughput and p99 over time).
    #[arg(required = true, value_name = "FILE")]
    pub inputs: Vec<PathBuf>,

    /// The SVG to write.
    #[arg(short, long, value_name = "OUT.svg")]
    pub output: PathBuf,
}

/// Image width, and the height of each panel.
const WIDTH: u32 = 1100;
const SPECTRUM_HEIGHT: u32 = 600;
const TIME_HEIGHT: u32 = 380;

/// Line colors that stay apart on white and from each other (no yellow).
const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// Rates on an axis: 5.0k, 20.0k, 1.2M.
fn rate_label(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// One line of the spectrum: `(1/(1-p), milliseconds)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The legend: scenario and file.
    pub label: String,
    /// `(1/(1-p), milliseconds)`, p rising.
    pub points: Vec<(f64, f64)>,
}

/// The spectrum of `h` as HdrHistogram's percentile output lists it (5
/// steps per halving of the distance to 100%), out to `x_max`: the last
/// value (the max) is held to the right edge.
pub fn spectrum(h: &Histogram<u64>, x_max: f64) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    if h.is_empty() {
        return points;
    }
    for v in h.iter_quantiles(5) {
        let q = v.quantile_iterated_to();
        let x = if q >= 1.0 { x_max } else { (1.0 / (1.0 - q)).min(x_max) };
        points.push((x, v.value_iterated_to() as f64 / 1000.0));
    }
    let last = points.last().map(|p| p.1).unwrap_or(0.0);
    if points.last().is_some_and(|p| p.0 < x_max) {
        points.push((x_max, last));
    }
    points
}

/// "90%", "99%", "99.9%", ... for 10, 100, 1000, ...
pub fn percentile_label(x: f64) -> String {
    if x <= 1.0 {
        return "0%".into();
    }
    let nines = x.log10().round() as i32;
    let decimals = (nines - 2).max(0) as usize;
    format!("{:.*}%", decimals, 100.0 * (1.0 - 1.0 / x))
}

/// The x range: a power of ten covering the most messages of any input
/// (beyond it, percentiles are the max), from 99.9% to 99.9999%.
fn x_max(counts: impl Iterator<Item = u64>) -> f64 {
    let n = counts.max().unwrap_or(1).max(1) as f64;
    10f64.powi((n.log10().ceil() as i32).clamp(3, 6))
}

/// A short, distinguishing name of a file: its directory and name.
fn short(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match path.parent().and_then(|p| p.file_name()) {
        Some(dir) => format!("{}/{name}", dir.to_string_lossy()),
        None => name,
    }
}

/// The file name alone, for a title.
fn short_str(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("?")
}

/// Whether an interval is shorter than a second: the run's last.
fn is_partial(i: &Interval) -> bool {
    i.length_s < 0.999
}

/// The legend of every chart: upper left, on a white ground.
fn draw_legend<'a, CT: CoordTranslate>(chart: &mut ChartContext<'a, SVGBackend<'a>, CT>) -> Result<(), Error> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
        .map_err(drawing)
}

fn drawing(e: impl std::fmt::Display) -> Error {
    Error::failed(format!("drawing: {e}"))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// The latency axis's range: whole decades around every point, so that
/// the median and the tail both get room (on a linear axis, everything
/// below p90 sits on zero).
pub fn decades(lines: &[Line]) -> (f64, f64) {
    let values = || lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).filter(|v| *v > 0.0);
    let low = values().fold(f64::INFINITY, f64::min);
    let high = values().fold(0.0, f64::max);
    if !low.is_finite() {
        return (0.001, 1.0);
    }
    let low = 10f64.powf(low.log10().floor());
    let high = 10f64.powf(high.log10().ceil()).max(low * 10.0);
    (low, high)
}

/// "0.01", "0.1", "1", "10", "100" ms: a decade's tick.
pub fn ms_label(y: f64) -> String {
    if y >= 1.0 {
        format!("{y:.0}")
    } else {
        let decimals = (-y.log10()).ceil() as usize;
        format!("{y:.decimals$}")
    }
}

/// The scenarios of `names`, each once, in order: what a title names.
fn scenarios<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for n in names {
        if !seen.contains(&n) {
            seen.push(n);
        }
    }
    let mut s = seen.join(", ");
    if s.chars().count() > 60 {
        s = s.chars().take(57).collect::<String>() + "...";
    }
    s
}

fn draw_spectrum(area: &Area<'_>, lines: &[Line], x_max: f64, title: &str) -> Result<(), Error> {
    let (y_min, y_max) = decades(lines);
    let keys: Vec<f64> = (0..=(x_max.log10().round() as i32)).map(|k| 10f64.powi(k)).collect();
    let y_keys: Vec<f64> =
        (y_min.log10().round() as i32..=y_max.log10().round() as i32).map(|k| 10f64.powi(k)).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(format!("RTT by percentile (from intended send time): {title}"), ("sans-serif", 24))
        .margin(20)
        .margin_right(60)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (1f64..x_max).log_scale().with_key_points(keys),
            (y_min..y_max).log_scale().with_key_points(y_keys),
        )
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_desc("percentile (log scale of 1/(1-p))")
        .y_desc("latency (ms, log scale)")
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| ms_label(*y))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .light_line_style(WHITE)
        .draw()
        .map_err(drawing)?;
    for (i, line) in lines.iter().enumerate() {
        let color = color(i);
        // A log axis has no zero: values below the axis sit on its floor.
        let points = line.points.iter().map(|&(x, y)| (x, y.max(y_min)));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(drawing)?
            .label(&line.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3)));
    }
    draw_legend(&mut chart)
}

/// An interval log to draw: its legend name (scenario, and file when
/// several) and its whole seconds.
struct Log {
    name: String,
    intervals: Vec<Interval>,
}

/// One panel over time: `value` of each interval, one line per (file, tag).
/// Partial seconds (the last one of a run) are left out: a second's count
/// over part of a second looks like a drop in throughput.
fn draw_over_time(
    area: &Area<'_>,
    logs: &[Log],
    tags: &[&str],
    caption: &str,
    y_desc: &str,
    rates: bool,
    value: impl Fn(&Interval) -> f64,
) -> Result<(), Error> {
    let mut lines: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for log in logs {
        for tag in tags {
            let whole = log.intervals.iter().filter(|i| i.tag == *tag && !is_partial(i));
            let points: Vec<(f64, f64)> = whole.map(|i| (i.end_s, value(i))).collect();
            if !points.is_empty() {
                let what = if rates { "replies" } else { tag };
                lines.push((format!("{} {what}", log.name), points));
            }
        }
    }
    let x_max = lines.iter().flat_map(|l| l.1.iter().map(|p| p.0)).fold(1.0, f64::max);
    let y_max = lines.iter().flat_map(|l| l.1.iter().map(|p| p.1)).fold(0.0, f64::max).max(0.001) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 22))
        .margin(20)
        .margin_right(60)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_desc("time since the run started (s); partial seconds left out")
        .y_desc(y_desc)
        .y_label_formatter(&|y| if rates { rate_label(*y) } else { format!("{y}") })
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .light_line_style(WHITE)
        .draw()
        .map_err(drawing)?;
    for (i, (label, points)) in lines.iter().enumerate() {
        let color = color(i);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
            .map_err(drawing)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3)));
    }
    draw_legend(&mut chart)
}

/// Reads the inputs, draws, writes the SVG.
pub fn execute(args: &PlotArgs) -> anyhow::Result<Verdict> {
    super::args::check_writable("-o", &args.output)?;
    let mut results: Vec<(PathBuf, RunResult)> = Vec::new();
    let mut hlogs = Vec::new();
    for path in &args.inputs {
        if path.extension().is_some_and(|e| e == "hlog") {
            hlogs.push((path, read_hlog(path)?));
        } else {
            results.push((path.clone(), read_json(path)?));
        }
    }
    let logs: Vec<Log> = hlogs
        .iter()
        .map(|(path, data)| {
            let scenario = data.scenario.clone().unwrap_or_else(|| short(path));
            let name = if hlogs.len() > 1 { format!("{scenario} ({})", short(path)) } else { scenario };
            Log { name, intervals: data.intervals.clone() }
        })
        .collect();
    let log_title = scenarios(hlogs.iter().map(|(p, d)| d.scenario.as_deref().unwrap_or(short_str(p))));
    let x_max = x_max(results.iter().map(|(_, r)| r.latency().count));
    let mut lines = Vec::new();
    for (path, r) in &results {
        let h = r.histogram(Series::RttCorrected).decode()?;
        if h.is_empty() {
            return Err(Error::usage(format!("{}: no RTT was recorded: nothing to plot", path.display())).into());
        }
        lines.push(Line { label: format!("{} ({})", r.scenario, short(path)), points: spectrum(&h, x_max) });
    }

    let height = if lines.is_empty() { 0 } else { SPECTRUM_HEIGHT } + if logs.is_empty() { 0 } else { 2 * TIME_HEIGHT };
    let root = SVGBackend::new(&args.output, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(drawing)?;
    let mut rest = root.clone();
    if !lines.is_empty() {
        let (top, bottom) = rest.split_vertically(SPECTRUM_HEIGHT);
        let title = scenarios(results.iter().map(|(_, r)| r.scenario.as_str()));
        draw_spectrum(&top, &lines, x_max, &title)?;
        rest = bottom;
    }
    if !logs.is_empty() {
        let (top, bottom) = rest.split_vertically(TIME_HEIGHT);
        let caption = format!("Throughput over time: {log_title}");
        draw_over_time(&top, &logs, &["rtt_corrected"], &caption, "replies per second", true, |i| i.per_s)?;
        let tags = ["rtt_corrected", "rtt_uncorrected", "send_lag"];
        let caption = format!("p99 of each second: {log_title}");
        draw_over_time(&bottom, &logs, &tags, &caption, "p99 (ms)", false, |i| i.p99_ms)?;
    }
    root.present().map_err(|e| Error::failed(format!("cannot write {}: {e}", args.output.display())))?;
    println!("wrote {}", args.output.display());
    Ok(Verdict::Passed)
}

#[cfg(test)]
mod tests;
