use super::*;
use crate::domain::fixture;

#[test]
fn messages_use_resource_names() {
    let c = fixture::catalog();
    let p = PbCatalog::build(&c);
    let tp = &p.points[c.point_index("sternocleidomastoid_1").unwrap()];
    assert_eq!(tp.name, "triggerPoints/sternocleidomastoid_1");
    assert_eq!(tp.muscle, "muscles/sternocleidomastoid");
    assert_eq!(tp.excluded_tools[0].tool, "tools/massage_gun");
    assert_eq!(
        tp.excluded_conditions[0].contraindication,
        "contraindications/aneurysm"
    );
    assert_eq!(tp.cautions[0].kind, pb::StructureKind::Artery as i32);
    let gun = &p.tools[c.tool_index("massage_gun").unwrap()];
    assert_eq!(gun.suited_muscles, ["muscles/tibialis_anterior"]);
    assert_eq!(
        p.snapshot.trigger_points.len(),
        c.data().trigger_points.len()
    );
    assert_eq!(p.snapshot.catalog_version, c.version());
}

#[test]
fn unknown_enum_numbers_are_refused() {
    let r = pb::FindByPainRequest {
        locations: vec![pb::PainLocation {
            region: "low back".into(),
            side: 9,
        }],
        ..Default::default()
    };
    let err = PainQuery::try_from(&r).unwrap_err();
    assert_eq!(err[0].field, "locations[0].side");
    assert!(kinds(&[0]).is_err());
    assert!(view_filter("view", 7).is_err());
}
