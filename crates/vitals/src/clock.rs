//! Device time as the receiver keeps it: one clock per subject, and the checks of a device's
//! times against the receiver's wall clock.
//!
//! A subject's clock is the latest `sent_at` or sample time of its batches, advanced by the
//! receiver's wall time elapsed since its last batch. A monitor runs on that clock, so an
//! accelerated replay of past device times behaves like real time. Only "in the future" is
//! judged against the receiver's wall clock ([`check_device_time`]).
//!
//! Pure: the wall time is passed in, never read.

use crate::error::VitalsError;
use crate::units::{DurationMs, Timestamp};

/// One subject's clock. It never goes backwards: every value it hands out is at least the
/// previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectClock {
    /// Device time at the last accepted batch; `None` before the first.
    device: Option<Timestamp>,
    /// The receiver's wall time then.
    wall: Timestamp,
    /// The highest value handed out.
    last: Option<Timestamp>,
}

impl SubjectClock {
    /// A clock that read `device` at wall time `wall` (`None`: it has not started, as for a
    /// subject with nothing stored).
    pub fn new(device: Option<Timestamp>, wall: Timestamp) -> Self {
        Self {
            device,
            wall,
            last: device,
        }
    }

    /// The clock at wall time `wall` (`None` before it started). A wall clock stepping back
    /// never moves it back.
    pub fn now(&mut self, wall: Timestamp) -> Option<Timestamp> {
        let device = self.device?;
        let now = device.plus(DurationMs(wall.since(self.wall).0.max(0)));
        let now = self.last.map_or(now, |l| l.max(now));
        self.last = Some(now);
        Some(now)
    }

    /// The time a batch received at wall time `wall` runs at: the clock, or for the first batch
    /// its `sent_at` or newest sample time, and never before either of those. `None` when there
    /// is nothing to tell the time by (an empty first batch without `sent_at`).
    pub fn batch_time(
        &mut self,
        wall: Timestamp,
        sent_at: Option<Timestamp>,
        newest_sample: Option<Timestamp>,
    ) -> Option<Timestamp> {
        let clock = self.now(wall).or(sent_at).or(newest_sample)?;
        Some(
            clock
                .max(newest_sample.unwrap_or(clock))
                .max(sent_at.unwrap_or(clock)),
        )
    }

    /// Sets the clock to `device` at wall time `wall`, once a batch timed by
    /// [`SubjectClock::batch_time`] is accepted.
    pub fn set(&mut self, device: Timestamp, wall: Timestamp) {
        self.device = Some(device);
        self.wall = wall;
        self.last = Some(device);
    }

    /// The highest value handed out (`None` before the clock started).
    pub fn last(&self) -> Option<Timestamp> {
        self.last
    }
}

/// Checks a device's time `at` against the receiver's wall clock: it may be ahead of `wall` by
/// `max_skew` at most, and (when the batch says when it was sent) no more than `max_skew` after
/// `sent_at`.
pub fn check_device_time(
    at: Timestamp,
    sent_at: Option<Timestamp>,
    wall: Timestamp,
    max_skew: DurationMs,
) -> Result<(), VitalsError> {
    if at > wall.plus(max_skew) {
        return Err(VitalsError::InFuture { at, now: wall });
    }
    if let Some(sent_at) = sent_at
        && at > sent_at.plus(max_skew)
    {
        return Err(VitalsError::AfterSent { at, sent_at });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp(1_794_096_000_000);

    fn at(ms: i64) -> Timestamp {
        Timestamp(T0.0 + ms)
    }

    #[test]
    fn an_unstarted_clock_has_no_time() {
        let mut c = SubjectClock::new(None, at(0));
        assert_eq!(c.now(at(5_000)), None);
        assert_eq!(c.last(), None);
    }

    #[test]
    fn the_clock_advances_with_wall_time_from_its_device_time() {
        // Device time is an hour behind the wall clock (a replay): it advances at wall rate.
        let device = Timestamp(T0.0 - 3_600_000);
        let mut c = SubjectClock::new(Some(device), at(0));
        assert_eq!(c.now(at(2_500)), Some(device.plus(DurationMs(2_500))));
        assert_eq!(c.last(), Some(device.plus(DurationMs(2_500))));
    }

    #[test]
    fn a_wall_clock_stepping_back_never_moves_the_clock_back() {
        let mut c = SubjectClock::new(Some(at(0)), at(0));
        assert_eq!(c.now(at(10_000)), Some(at(10_000)));
        assert_eq!(c.now(at(4_000)), Some(at(10_000)));
        assert_eq!(c.now(at(-60_000)), Some(at(10_000)));
    }

    #[test]
    fn a_first_batch_is_timed_by_sent_at_then_by_its_newest_sample() {
        let mut c = SubjectClock::new(None, at(0));
        assert_eq!(
            c.batch_time(at(0), Some(at(-5_000)), Some(at(-9_000))),
            Some(at(-5_000))
        );
        assert_eq!(
            c.batch_time(at(0), None, Some(at(-9_000))),
            Some(at(-9_000))
        );
        assert_eq!(c.batch_time(at(0), None, None), None);
        // A sample after sent_at (within skew) moves the batch's time up to it.
        assert_eq!(
            c.batch_time(at(0), Some(at(-5_000)), Some(at(-4_000))),
            Some(at(-4_000))
        );
    }

    #[test]
    fn a_batch_is_never_timed_before_its_newest_sample_or_sent_at() {
        let mut c = SubjectClock::new(Some(at(0)), at(0));
        assert_eq!(c.batch_time(at(1_000), None, None), Some(at(1_000)));
        assert_eq!(
            c.batch_time(at(1_000), None, Some(at(7_000))),
            Some(at(7_000))
        );
        assert_eq!(
            c.batch_time(at(1_000), Some(at(8_000)), Some(at(7_000))),
            Some(at(8_000))
        );
        // Not accepted: the clock itself did not jump.
        assert_eq!(c.now(at(2_000)), Some(at(2_000)));
        c.set(at(8_000), at(2_000));
        assert_eq!(c.now(at(3_000)), Some(at(9_000)));
    }

    #[test]
    fn device_times_ahead_of_the_wall_clock_or_sent_at_are_refused() {
        let skew = DurationMs::seconds(30);
        assert_eq!(check_device_time(at(30_000), None, at(0), skew), Ok(()));
        assert_eq!(
            check_device_time(at(30_001), None, at(0), skew),
            Err(VitalsError::InFuture {
                at: at(30_001),
                now: at(0)
            })
        );
        assert_eq!(
            check_device_time(at(-10_000), Some(at(-40_000)), at(0), skew),
            Ok(())
        );
        assert_eq!(
            check_device_time(at(-9_999), Some(at(-40_000)), at(0), skew),
            Err(VitalsError::AfterSent {
                at: at(-9_999),
                sent_at: at(-40_000)
            })
        );
        // The wall clock is checked first.
        assert!(matches!(
            check_device_time(at(60_000), Some(at(0)), at(0), skew),
            Err(VitalsError::InFuture { .. })
        ));
    }
}
