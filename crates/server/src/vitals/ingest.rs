//! Ingestion of one vital-sign batch: refusals a device is told (size, sources, assignment,
//! clocks, ranges, order, duplicates), storage, and the monitor, or the relay to the server that
//! holds the subject's lease. See the module above for how it fits together.

use super::*;

impl VitalsApi {
    /// Validates, stores and applies one batch sent by the device `device_id`. `Ok(ack)` also
    /// for a refused batch (the ack says why); `Err` only for failures of the server itself.
    pub(super) async fn ingest_batch(
        &self,
        tenant_id: &str,
        device_id: &str,
        batch: pb::VitalsBatch,
    ) -> Result<pb::VitalsBatchAck> {
        let refuse = |index: Option<u32>, error: String| pb::VitalsBatchAck {
            batch_id: batch.batch_id,
            accepted: 0,
            rejected_index: index,
            error,
            alert_events: 0,
        };
        if let Err(ServerError::InvalidArgument(m)) = check_subject_id(&batch.subject_id) {
            return Ok(refuse(None, m));
        }
        if batch.samples.len() > MAX_BATCH_SAMPLES {
            return Ok(refuse(
                None,
                format!("at most {MAX_BATCH_SAMPLES} samples per batch"),
            ));
        }
        let mut sources: Vec<&str> = batch
            .samples
            .iter()
            .map(|s| s.source_device.as_str())
            .collect();
        sources.sort_unstable();
        sources.dedup();
        if sources.len() > MAX_SOURCES_PER_BATCH {
            return Ok(refuse(
                None,
                format!(
                    "{} distinct source_device values: at most {MAX_SOURCES_PER_BATCH} per batch",
                    sources.len()
                ),
            ));
        }
        if !self
            .hub()
            .is_assigned(tenant_id, device_id, &batch.subject_id)
            .await?
        {
            return Ok(refuse(
                None,
                "this device is not assigned to this subject: an administrator assigns it (AdminService.AssignDevice)".into(),
            ));
        }
        let wall = Timestamp(now_ms());
        let skew = DurationMs(MAX_CLOCK_SKEW_MS);
        let sent_at = batch
            .sent_at
            .as_ref()
            .map(|t| Timestamp(convert::millis(t)));
        if let Some(t) = sent_at
            && check_device_time(t, None, wall, skew).is_err()
        {
            return Ok(refuse(
                None,
                format!(
                    "sent_at is {} s ahead of the server clock",
                    t.since(wall).0 / 1000
                ),
            ));
        }
        let config = &self.hub().config;
        let mut samples = Vec::with_capacity(batch.samples.len());
        for (i, s) in batch.samples.iter().enumerate() {
            let checked = to_sample(s, device_id).and_then(|sample| {
                check_device_time(sample.at, sent_at, wall, skew)
                    .map_err(|e| refusal(&e, &sample, config))?;
                Ok(sample)
            });
            match checked {
                Ok(sample) => samples.push(sample),
                Err(why) => {
                    let (idx, msg) = bad(i, why);
                    return Ok(refuse(idx, msg));
                }
            }
        }

        if samples.is_empty() && !self.hub().has_subject(tenant_id, &batch.subject_id) {
            // Nothing to store and no monitor whose clock it could advance: it creates nothing.
            return Ok(pb::VitalsBatchAck {
                batch_id: batch.batch_id,
                accepted: 0,
                rejected_index: None,
                error: String::new(),
                alert_events: 0,
            });
        }
        if !self.hub().holds(tenant_id, &batch.subject_id).await? {
            return self
                .relay_batch(tenant_id, device_id, &batch, &samples)
                .await;
        }
        let mut s = self
            .hub()
            .lock_subject(tenant_id, &batch.subject_id)
            .await?;
        s.last_used = Instant::now();
        let newest = samples.iter().map(|x| x.at).max();
        let Some(clock) = s.clock.batch_time(wall, sent_at, newest) else {
            return Ok(refuse(None, "an empty batch needs sent_at".into()));
        };
        if let Err((i, e)) = s.monitor.check_batch(&samples, clock) {
            let (idx, msg) = bad(i, refusal(&e, &samples[i], config));
            return Ok(refuse(idx, msg));
        }

        if !samples.is_empty() {
            let rows: Vec<VitalRow> = samples
                .iter()
                .zip(&batch.samples)
                .map(|(x, sent)| to_row(x, device_id, &sent.source_device))
                .collect();
            let rollups = rollup_rows(&samples);
            match self
                .hub()
                .store_samples(tenant_id, &batch.subject_id, rows, rollups, None)
                .await
            {
                Ok(()) => {}
                Err(ServerError::Store(StoreError::AlreadyExists(_))) => {
                    return Ok(refuse(
                        None,
                        "duplicate: a sample of this batch is already stored".into(),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        s.clock.set(clock, wall);
        let alert_events = self
            .hub()
            .apply_checked(
                tenant_id,
                &batch.subject_id,
                &mut s,
                &samples,
                clock,
                batch.expected_interval_seconds,
            )
            .await?;
        Ok(pb::VitalsBatchAck {
            batch_id: batch.batch_id,
            accepted: u32::try_from(samples.len()).unwrap_or(u32::MAX),
            rejected_index: None,
            error: String::new(),
            alert_events,
        })
    }
}
