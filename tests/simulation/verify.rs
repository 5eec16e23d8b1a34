//! The checks after every step and the full ones: a step's events and audit entries against
//! what the model expected, the keys it touched and the uploads against the model, a read
//! back of what it touched; the full check adds every key of every bucket, refcounts and
//! chunk files (fsck), the audit chains and, at the end, every version read back whole.
//! Events also go through the relay to its faulty sink (`relay`), checked after each drain.

use super::check;
use super::model::{Sse, Ver};
use super::observe;
use super::ops::BUCKETS;
use super::run::{EventRule, Sim};
use granary::meta::event::Event;
use std::collections::BTreeSet;

impl Sim {
    pub async fn check_step(&mut self) -> Result<(), String> {
        let db = std::sync::Arc::clone(&self.world.db);
        let pending = observe::new_events(&*db, &mut self.event_cursor)?;
        let events: Vec<Event> = pending.iter().map(|p| p.event.clone()).collect();
        match &self.exp.rule {
            EventRule::Exact => check::events(&self.exp.events, &events)?,
            EventRule::Lifecycle => relaxed_events(&events, |e| e.name.starts_with("LifecycleExpiration:"))?,
            EventRule::Purge { bucket, prefix } => relaxed_events(&events, |e| {
                e.bucket == *bucket
                    && e.key.as_deref().is_some_and(|k| k.starts_with(prefix.as_str()))
                    && (e.name == "ObjectRemoved:Delete" || e.name == granary::meta::outbox::CURRENT_RESTORED)
            })?,
        }
        let mut audits = observe::new_audit(&*db, &mut self.audit_cursor)?;
        self.audit_total += audits.len() as u64;
        for optional in &self.exp.optional_audits {
            if let Some(i) = audits.iter().position(|e| e.op == optional.op && e.actor.request_id == optional.request_id) {
                audits.remove(i);
            }
        }
        if self.exp.rule == EventRule::Lifecycle {
            let entries = audits.iter().filter(|e| e.op == "LifecycleExpiration").count();
            let removals = events.len();
            if entries != removals || audits.iter().any(|e| !e.op.starts_with("Lifecycle")) {
                return Err(format!(
                    "a failed lifecycle pass left {removals} events and entries {:?}",
                    audits.iter().map(|e| &e.op).collect::<Vec<_>>()
                ));
            }
        } else {
            check::audits(&self.exp.audits, &audits)?;
        }
        let touched = std::mem::take(&mut self.exp.touched);
        for (bucket, key) in &touched {
            self.check_key(bucket, key)?;
        }
        self.check_uploads()?;
        for (i, (bucket, key)) in touched.iter().enumerate() {
            self.check_read(i % 2, bucket, key, None).await?;
        }
        if std::mem::take(&mut self.needs_fsck) {
            self.fsck().await?;
        }
        // What the step committed is what the relay may deliver from now on.
        self.relay_step(pending).await
    }

    pub fn check_key(&mut self, bucket: &str, key: &str) -> Result<(), String> {
        let seen = observe::versions_of_key(&*self.world.db, bucket, key)?;
        let b = self.model.buckets.get_mut(bucket).expect("bucket");
        let model = b.keys.entry(key.to_owned()).or_default();
        check::key_matches(model, &seen).map_err(|e| format!("{bucket}/{key}: {e}\n  {}", check::show_versions(model, &seen)))?;
        check::adopt(model, &seen);
        let current = model.first().and_then(Ver::obj).map(|o| o.etag.clone());
        if model.is_empty() {
            b.keys.remove(key);
        }
        let got = observe::current_etag(&*self.world.db, bucket, key)?;
        if got != current {
            return Err(format!("{bucket}/{key}: GET finds {got:?}, the current version is {current:?}"));
        }
        Ok(())
    }

    pub fn check_uploads(&self) -> Result<(), String> {
        let db = &*self.world.db;
        for (name, b) in &self.model.buckets {
            let req = granary::meta::uploads::UploadListRequest {
                bucket: name,
                prefix: "",
                delimiter: None,
                key_marker: None,
                upload_id_marker: None,
                max: 1000,
            };
            let page = granary::meta::uploads::list_uploads(db, &req).map_err(|e| e.to_string())?;
            let got: BTreeSet<(String, [u8; 16])> = page.uploads.iter().map(|u| (u.key.clone(), u.id)).collect();
            let want: BTreeSet<(String, [u8; 16])> = b.uploads.iter().map(|(id, u)| (u.key.clone(), *id)).collect();
            if got != want {
                return Err(format!("{name}: uploads in progress {} in the store, {} in the model", got.len(), want.len()));
            }
            for (id, u) in &b.uploads {
                let parts = granary::meta::uploads::list_parts(db, name, &u.key, id, 0, 1000).map_err(|e| e.to_string())?;
                let got: Vec<(i32, String)> = parts.parts.iter().map(|(n, p)| (*n, p.etag())).collect();
                let want: Vec<(i32, String)> = u.parts.iter().map(|(n, p)| (*n, p.etag())).collect();
                if got != want {
                    return Err(format!("{name}/{} upload {}: parts {got:?}, the model has {want:?}", u.key, hex::encode(id)));
                }
            }
        }
        Ok(())
    }

    /// Reads a version back through gateway `g`: the model's bytes, or (for an object with a
    /// chunk a torn write damaged) a failure; never other bytes.
    pub async fn check_read(&mut self, g: usize, bucket: &str, key: &str, vid: Option<&str>) -> Result<bool, String> {
        let versions = self.model.buckets[bucket].versions(key);
        let want = match vid {
            None => versions.first().and_then(Ver::obj),
            Some(v) => versions.iter().find(|x| x.vid() == v).and_then(Ver::obj),
        };
        let Some(want) = want.cloned() else { return Ok(false) };
        let customer = match want.sse {
            Sse::C(i) => Some(observe::customer_key(i)),
            _ => None,
        };
        match observe::read_bytes(&self.world.gateways[g], (bucket, key), vid, None, customer.as_deref()).await {
            Ok((bytes, _)) if bytes.as_slice() == want.body.as_slice() => Ok(true),
            Ok((bytes, _)) => Err(format!("{bucket}/{key} v={vid:?} read back {} bytes that are not its {}", bytes.len(), want.body.len())),
            Err(observe::ReadFailure::Failed(why, chunks)) if chunks.iter().any(|c| self.damaged.contains(c)) => {
                self.log(|| format!("  {bucket}/{key} v={vid:?} unreadable, as a torn chunk makes it: {why}"));
                self.note("version unreadable after a torn write (never wrong bytes)", 1);
                Ok(false)
            }
            Err(e) => Err(format!("{bucket}/{key} v={vid:?} ({} bytes) cannot be read: {e:?}", want.body.len())),
        }
    }

    /// Refcounts equal references, and every referenced chunk is stored.
    pub async fn fsck(&self) -> Result<(), String> {
        let report = granary::engine::fsck::verify(&self.world.gateways[0].engine, false).await?;
        if !report.refcounts.drift.is_empty() {
            return Err(format!("refcounts drifted from references: {:?}", report.refcounts.drift));
        }
        if !report.missing_files.is_empty() {
            return Err(format!("referenced chunks are missing from the store: {:?}", report.missing_files));
        }
        Ok(())
    }

    /// Every key of every bucket against the model, the audit chains, refcounts and chunk
    /// files, every committed event delivered by the relay; with `read_all`, every object
    /// version read back.
    pub async fn full_check(&mut self, read_all: bool) -> Result<(), String> {
        self.relay_drain().await?;
        for bucket in BUCKETS {
            let seen = observe::versions_of(&*self.world.db, bucket, "")?;
            let keys: BTreeSet<String> = seen.keys().chain(self.model.buckets[bucket].keys.keys()).cloned().collect();
            for key in keys {
                self.check_key(bucket, &key)?;
            }
        }
        self.check_uploads()?;
        self.fsck().await?;
        let audit = granary::audit::verify(&*self.world.db, |_| {}).map_err(|e| e.to_string())?;
        if !audit.problems.is_empty() {
            return Err(format!("the audit chains do not verify: {:?}", audit.problems));
        }
        if audit.entries != self.audit_total {
            return Err(format!("the audit trail holds {} entries; {} mutations committed", audit.entries, self.audit_total));
        }
        if read_all {
            let mut all = Vec::new();
            for (bucket, b) in &self.model.buckets {
                for (key, versions) in &b.keys {
                    all.extend(versions.iter().filter(|v| !v.is_marker()).map(|v| (bucket.clone(), key.clone(), v.vid().to_owned())));
                }
            }
            for (i, (bucket, key, vid)) in all.iter().enumerate() {
                if self.check_read(i % 2, bucket, key, Some(vid)).await? {
                    self.summary.versions_read += 1;
                }
            }
        }
        Ok(())
    }
}

fn relaxed_events(events: &[Event], allowed: impl Fn(&Event) -> bool) -> Result<(), String> {
    match events.iter().find(|e| !allowed(e)) {
        Some(e) => Err(format!("unexpected event {} {}/{:?}", e.name, e.bucket, e.key)),
        None => Ok(()),
    }
}
