//! Time to compute and to serialize the desired state of one ChatDeployment (the largest
//! example: managed PostgreSQL, ingress with TLS, resources): `cargo bench -p chatplane-operator --bench desired_state`.

use chatplane_operator::{
    render,
    resources::{GeneratedValues, Images, Inputs, desired},
};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    // At run time, as the tests do: `env!`'s checkout may be another than the one benchmarked.
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo bench");
    let path = &format!("{dir}/../examples/ingress-tls.yaml");
    let cd = render::parse_file(path).expect("a valid example");
    let inputs = Inputs::new(Images::defaults());
    let values = GeneratedValues::placeholders();
    c.bench_function("desired_state/build", |b| {
        b.iter(|| desired(&cd, &inputs, &values).expect("builds"))
    });
    c.bench_function("desired_state/build_and_serialize_json", |b| {
        b.iter(|| {
            let d = desired(&cd, &inputs, &values).expect("builds");
            d.manifests()
                .expect("serializes")
                .iter()
                .map(|m| serde_json::to_vec(m).expect("json").len())
                .sum::<usize>()
        })
    });
    c.bench_function("desired_state/build_and_render_yaml", |b| {
        b.iter(|| {
            desired(&cd, &inputs, &values)
                .expect("builds")
                .to_yaml()
                .expect("yaml")
                .len()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
