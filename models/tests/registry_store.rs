//! The registry over a store with one good, one missing and one corrupt model: the good one
//! serves, the others are reported by name with the command that fixes them.

mod common;

use candle_core::Device;
use models::{Catalog, LoadState, Registry, Store, Task};

#[test]
fn missing_and_corrupt_models_are_reported_and_the_rest_serve() {
    let (selfie, real) = common::ready("selfie");
    let dir = std::env::temp_dir().join(format!("candlelit-registry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("selfie")).unwrap();
    for f in &selfie.files {
        std::fs::copy(
            real.model_dir("selfie").join(f.file_name()),
            dir.join("selfie").join(f.file_name()),
        )
        .unwrap();
    }
    // Meet's graph is present but its weights are damaged.
    std::fs::create_dir_all(dir.join("meet")).unwrap();
    std::fs::copy(
        real.model_dir("meet").join("meet.json"),
        dir.join("meet/meet.json"),
    )
    .unwrap();
    std::fs::write(dir.join("meet/meet.bin"), b"not the weights").unwrap();

    let store = Store::new(&dir, std::env::temp_dir());
    let reg = Registry::load(Catalog::builtin(), &store, None, &Device::Cpu);
    assert_eq!(reg.entry("selfie").unwrap().state, LoadState::Ready);
    assert!(matches!(
        reg.entry("selfie").unwrap().model,
        Some(models::Model::Segmenter(_))
    ));
    match &reg.entry("meet").unwrap().state {
        LoadState::Corrupt { detail, fix } => {
            assert!(detail.contains("meet.bin"), "{detail}");
            assert_eq!(fix, "candlelit models fetch meet");
        }
        other => panic!("meet should be corrupt, is {other:?}"),
    }
    assert_eq!(reg.default_id(Task::Segmentation), Some("selfie"));

    std::fs::remove_dir_all(dir.join("meet")).unwrap();
    let reg = Registry::load(Catalog::builtin(), &store, None, &Device::Cpu);
    assert_eq!(
        reg.entry("meet").unwrap().state,
        LoadState::Missing {
            fix: "candlelit models fetch meet".into()
        }
    );

    // Only the enabled models load; a disabled default hands over to the next ready one.
    let only_meet = Registry::load(
        Catalog::builtin(),
        &real,
        Some(&["meet".to_string()]),
        &Device::Cpu,
    );
    assert_eq!(
        only_meet.entry("selfie").unwrap().state,
        LoadState::Disabled
    );
    assert_eq!(only_meet.default_id(Task::Segmentation), Some("meet"));
    std::fs::remove_dir_all(&dir).unwrap();
}
