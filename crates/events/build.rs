//! Generates the event types from `proto/` with a vendored `protoc`, so a fresh
//! machine builds without a system protobuf install.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = "../../proto";
    let files = ["../../proto/payments/v1/events.proto"];
    println!("cargo:rerun-if-changed={proto_root}");
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }

    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    config.compile_protos(&files, &[proto_root])?;
    Ok(())
}
