//! Scripted vital-sign scenarios from firmware-sim replayed (accelerated, past device times in
//! order) through the real server over gRPC: every scripted event raises exactly one alert of
//! the right kind within its stated latency (device time from the event's ground-truth start);
//! quiet nights raise none. Also the false-alarm rate over many simulated resident-days.
#![allow(clippy::unwrap_used)]

mod vitals_common;

use std::collections::BTreeMap;

use auscult_proto::v1 as pb;
use auscult_server::vitals::wire::alert_kind_of;
use auscult_testkit::*;
use auscult_vitals::AlertClass;
use firmware_sim::vitals::{
    GroundTruth, VitalsPacing, VitalsPlan, VitalsScenarioKind, channel, script, stream_batches,
};
use vitals_common::*;

struct Run {
    subject: String,
    truth: GroundTruth,
    /// Device time of the end of the series: after it the sensor is (rightly) silent.
    end_ms: i64,
}

/// Streams one scenario as fast as the server acknowledges, device time ending about now.
async fn replay(url: &str, token: &str, subject: &str, plan: VitalsPlan, batch_s: f64) -> Run {
    let start = wall_ms() - (plan.duration_s * 1000.0) as i64 - 60_000;
    let s = script(&plan, subject, "sensor-1", start, batch_s, 1).unwrap();
    let report = stream_batches(
        channel(url).unwrap(),
        token,
        s.batches,
        VitalsPacing::AsFastAsAcked,
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(report.refused, 0, "{:?}", report.refusals);
    Run {
        subject: subject.to_owned(),
        end_ms: start + (plan.duration_s * 1000.0) as i64,
        truth: s.truth,
    }
}

fn check(run: &Run, events: &[auscult_proto::v1::AlertEvent]) -> Option<i64> {
    let mine: Vec<_> = events
        .iter()
        .filter(|e| subject_of(e) == run.subject && ms(&e.at) <= run.end_ms)
        .collect();
    let raises: Vec<_> = mine
        .iter()
        .filter(|e| e.change() == pb::AlertChange::Raised)
        .collect();
    let t = &run.truth;
    match t.expected_alert_kind {
        None => {
            assert!(
                raises.is_empty(),
                "{}: quiet night raised {:?}",
                run.subject,
                raises
            );
            None
        }
        Some(kind) => {
            assert_eq!(
                raises.len(),
                1,
                "{} ({:?}): exactly one alert expected, got {:#?}",
                run.subject,
                t.scenario,
                raises
            );
            let alert = raises[0].alert.as_ref().unwrap();
            assert_eq!(
                alert_kind_of(alert.kind).map(AlertClass::as_str),
                Some(kind),
                "{}: {alert:?}",
                run.subject
            );
            let onset = t.event_start_ms.unwrap();
            let at = ms(&raises[0].at);
            let latency = at - onset;
            assert!(
                (0..=t.stated_latency_ms).contains(&latency),
                "{} ({:?}): raised {} s after onset, stated {} s",
                run.subject,
                t.scenario,
                latency / 1000,
                t.stated_latency_ms / 1000
            );
            Some(latency)
        }
    }
}

async fn every_scenario_raises_one_alert(db: Db) {
    let Some(ts) = start(db).await else { return };
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "care-home").await;
    let url = url(ts.server.addr);
    let mut tasks = Vec::new();
    // Once a minute, 8 hours, event 2 hours before the end; batches of one minute.
    for (i, kind) in VitalsScenarioKind::ALL.into_iter().enumerate() {
        let plan = VitalsPlan {
            kind,
            seed: 100 + i as u64,
            ..VitalsPlan::default()
        };
        let subject = format!("minute-{kind}");
        t.assign(ch, &[&subject]).await;
        let (url, token) = (url.clone(), t.device_token.clone());
        tasks.push(tokio::spawn(async move {
            replay(&url, &token, &subject, plan, 60.0).await
        }));
    }
    // Continuous (1 Hz) monitors, 2 hours, event after 90 minutes; batches of 5 s.
    for (i, kind) in [
        VitalsScenarioKind::Apnea,
        VitalsScenarioKind::Unplugged,
        VitalsScenarioKind::QuietNight,
    ]
    .into_iter()
    .enumerate()
    {
        let plan = VitalsPlan {
            kind,
            seed: 200 + i as u64,
            duration_s: 2.0 * 3600.0,
            interval_s: 1.0,
            onset_s: Some(90.0 * 60.0),
            ..VitalsPlan::default()
        };
        let subject = format!("second-{kind}");
        t.assign(ch, &[&subject]).await;
        let (url, token) = (url.clone(), t.device_token.clone());
        tasks.push(tokio::spawn(async move {
            replay(&url, &token, &subject, plan, 5.0).await
        }));
    }
    let mut runs = Vec::new();
    for task in tasks {
        runs.push(task.await.unwrap());
    }
    let events = all_events(ch, &t.nurse_token, &t).await;
    let mut latencies = BTreeMap::new();
    for run in &runs {
        if let Some(l) = check(run, &events) {
            latencies.insert(run.subject.clone(), l / 1000);
        }
    }
    eprintln!("alert latency from ground-truth onset (s, device time): {latencies:?}");
    // Every event is stored once: ids strictly increase.
    assert!(events.windows(2).all(|w| w[0].event_id < w[1].event_id));
    ts.server.shutdown().await.unwrap();
}
both_backends!(every_scenario_raises_one_alert);

/// Quiet resident-days through the server (accelerated, once a minute): the false-alarm rate.
/// `AUSCULT_VITALS_FA_RESIDENT_DAYS` sets how many (default 12).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn false_alarm_rate_over_quiet_resident_days() {
    let days: usize = std::env::var("AUSCULT_VITALS_FA_RESIDENT_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let ts = start(Db::Sqlite).await.unwrap();
    let ch = &ts.channel;
    let t = make_tenant(ch, &ts.admin_token, "quiet-ward").await;
    let url = url(ts.server.addr);
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..days {
        let plan = VitalsPlan {
            kind: VitalsScenarioKind::QuietNight,
            seed: 10_000 + i as u64,
            duration_s: 24.0 * 3600.0,
            start_hour: 8.0,
            ..VitalsPlan::default()
        };
        let subject = format!("resident-{i:04}");
        t.assign(ch, &[&subject]).await;
        let (url, token) = (url.clone(), t.device_token.clone());
        tasks.push(tokio::spawn(async move {
            replay(&url, &token, &subject, plan, 60.0).await
        }));
    }
    let mut artefacts = 0;
    let mut ends = BTreeMap::new();
    for task in tasks {
        let run = task.await.unwrap();
        artefacts += run.truth.motion_artefacts;
        ends.insert(run.subject, run.end_ms);
    }
    let events = all_events(ch, &t.nurse_token, &t).await;
    // A sensor is silent once its series has ended; only raises within the series count.
    let raises: Vec<_> = raised(&events)
        .into_iter()
        .filter(|e| ms(&e.at) <= ends[subject_of(e)])
        .collect();
    let rate = raises.len() as f64 / days as f64;
    eprintln!(
        "false alarms: {} over {days} resident-days ({artefacts} motion artefacts) = {rate:.3} per resident-day; replayed in {:.1} s",
        raises.len(),
        started.elapsed().as_secs_f64()
    );
    for r in &raises {
        eprintln!("  {:?}", r.alert.as_ref().unwrap());
    }
    assert!(rate <= 0.1, "false-alarm rate {rate} per resident-day");
    ts.server.shutdown().await.unwrap();
}
