//! JSON shapes of the `serde` feature (used by servers to store settings and delivery logs).

use assignee_sync::{
    ChangeSource, GroupResult, GroupStatus, IntegrationId, OrderingKey, SkipReason, StatusCategory,
    StatusMapping, SyncSettings, UserId,
};
use serde_json::json;

#[test]
fn status_mapping_is_a_map_of_project_key_to_status_ids() {
    let m: StatusMapping = serde_json::from_value(json!({"APP": ["10200", "10201"]})).unwrap();
    assert_eq!(
        m,
        StatusMapping::new().with_project("APP", ["10201", "10200"])
    );
    assert_eq!(
        serde_json::to_value(&m).unwrap(),
        json!({"APP": ["10200", "10201"]})
    );
}

#[test]
fn settings_default_missing_members() {
    let s: SyncSettings = serde_json::from_value(json!({"sync_reverse_assignment": true})).unwrap();
    assert_eq!(s, SyncSettings::new().with_reverse_assignment(true));
}

#[test]
fn outcome_values_have_stable_names() {
    assert_eq!(
        serde_json::to_value(GroupResult::Assigned {
            user: UserId::new("u-1")
        })
        .unwrap(),
        json!({"result": "assigned", "user": "u-1"})
    );
    assert_eq!(
        serde_json::to_value(GroupResult::Skipped {
            reason: SkipReason::NotProjectMember
        })
        .unwrap(),
        json!({"result": "skipped", "reason": "not_project_member"})
    );
    assert_eq!(
        serde_json::to_value(GroupStatus::Resolved).unwrap(),
        json!("resolved")
    );
    assert_eq!(
        serde_json::to_value(ChangeSource::Integration(IntegrationId::new("jira-1"))).unwrap(),
        json!({"type": "integration", "id": "jira-1"})
    );
    let undefined = serde_json::from_value::<StatusCategory>(json!("undefined")).unwrap();
    assert_eq!(undefined.key(), "undefined");
    assert!(undefined.is_unknown());
    assert_eq!(
        serde_json::to_value(&undefined).unwrap(),
        json!("undefined")
    );
}

#[test]
fn ordering_key_round_trips() {
    let k = OrderingKey::new(Some(10196), 1_672_531_200_000);
    let back: OrderingKey = serde_json::from_value(serde_json::to_value(k).unwrap()).unwrap();
    assert_eq!(back, k);
    assert_eq!(back.timestamp_ms(), k.timestamp_ms());
}

/// Outbound settings in Sentry's form (`test_update_organization_config_sync_keys`'s input);
/// a blank status id is refused on reading, naming the project; missing members are off.
#[test]
fn outbound_settings_sentry_form() {
    use assignee_sync::outbound::{OutboundKind, OutboundSettings};
    let valid = json!({
        "sync_comments": true,
        "sync_forward_assignment": true,
        "sync_status_forward": {"10100": {"on_resolve": "4", "on_unresolve": "3"}}
    });
    let s: OutboundSettings = serde_json::from_value(valid.clone()).unwrap();
    assert_eq!(
        s,
        OutboundSettings::new()
            .with_comments(true)
            .with_forward_assignment(true)
            .with_status_forward("10100", "4", "3")
            .unwrap()
    );
    assert_eq!(serde_json::to_value(&s).unwrap(), valid);

    let err = serde_json::from_value::<OutboundSettings>(json!({
        "sync_status_forward": {"10100": {"on_resolve": "", "on_unresolve": "3"}}
    }))
    .unwrap_err()
    .to_string();
    assert!(err.contains("10100") && err.contains("onResolve"), "{err}");
    let err = serde_json::from_value::<OutboundSettings>(json!({
        "sync_status_forward": {"10100": {"on_resolve": "4"}}
    }))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("10100") && err.contains("onUnresolve"),
        "{err}"
    );

    let off: OutboundSettings = serde_json::from_value(json!({})).unwrap();
    assert_eq!(off, OutboundSettings::new());
    assert!(!off.enabled(OutboundKind::Status));
    assert_eq!(
        serde_json::to_value(OutboundKind::Assignee).unwrap(),
        json!("assignee")
    );
}
