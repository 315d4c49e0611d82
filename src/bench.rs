//! `bazaarstreet bench`: throughput and latency figures (see docs/BENCHMARKS.md).

use crate::config::Settings;

/// Benchmark options.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Jobs or runs per throughput measurement.
    #[arg(long, default_value_t = 5000)]
    pub count: usize,
}

/// Runs the benchmark.
pub async fn run(_settings: Settings, _args: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    Err("the benchmark is not built yet".into())
}
