//! Loading over a store with one good, one damaged and one absent model: the good one loads,
//! the others are reported by name with the command that fixes them.

mod common;

use candle_core::Device;
use models::load::load_one;
use models::{Catalog, ServingState, Store};

#[test]
fn missing_and_corrupt_models_are_reported_and_the_good_one_loads() {
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
    let catalog = Catalog::builtin();
    let load = |id: &str| load_one(catalog.get(id).unwrap(), &store, &Device::Cpu);
    let (state, model) = load("selfie");
    assert_eq!(state, ServingState::Ready);
    assert!(matches!(model, Some(models::Model::Segmenter(_))));
    match load("meet").0 {
        ServingState::Corrupt { detail, fix } => {
            assert!(detail.contains("meet.bin"), "{detail}");
            assert_eq!(fix, "candlelit models fetch meet");
        }
        other => panic!("meet should be corrupt, is {other:?}"),
    }

    std::fs::remove_dir_all(dir.join("meet")).unwrap();
    assert_eq!(
        load("meet").0,
        ServingState::Missing {
            fix: "candlelit models fetch meet".into()
        }
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
