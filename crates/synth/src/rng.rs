//! Seeded random streams. Each part of the synthesis draws from its own ChaCha stream, so switching
//! one option on (say, friction noise) does not change the heart sounds or the rhythm of a seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// The independent random streams of one recording.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    Rhythm = 1,
    Ecg = 2,
    Sounds = 3,
    Murmur = 4,
    PcgNoise = 5,
    EcgNoise = 6,
    Vitals = 7,
}

/// A generator for `stream` of `seed`.
pub(crate) fn stream(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}

/// A standard normal draw.
pub(crate) fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

/// A uniform draw in `[lo, hi)`; `lo` when the range is empty.
pub(crate) fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

/// Waiting time to the next event of a Poisson process with `rate_per_s` (infinite when the rate is 0).
pub(crate) fn exponential(rng: &mut ChaCha8Rng, rate_per_s: f64) -> f64 {
    if rate_per_s <= 0.0 {
        return f64::INFINITY;
    }
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    -u.ln() / rate_per_s
}
