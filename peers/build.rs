//! Compiles the C peers. The GLib peer is built only where pkg-config finds gio-2.0; the
//! crate then sets `cfg(have_glib)` and the bench lists `glib` among its senders and receivers.

fn main() {
    println!("cargo::rerun-if-changed=c");
    println!("cargo::rustc-check-cfg=cfg(have_glib)");
    cc::Build::new()
        .file("c/kernel_floor.c")
        .file("c/receivers.c")
        .file("c/relay.c")
        .warnings(true)
        .extra_warnings(true)
        .compile("mmsg_peers_floor");
    // Only link what is found: a machine without GLib's development files still builds.
    // The first probe only finds the headers; the libraries are named to the linker after
    // the peer that needs them, so that it keeps them.
    match pkg_config::Config::new()
        .cargo_metadata(false)
        .probe("gio-2.0")
    {
        Ok(gio) => {
            let mut build = cc::Build::new();
            build
                .file("c/glib_peer.c")
                .file("c/glib_receiver.c")
                .warnings(true)
                .extra_warnings(true);
            for path in &gio.include_paths {
                build.include(path);
            }
            build.compile("mmsg_peers_glib");
            if let Err(e) = pkg_config::probe_library("gio-2.0") {
                panic!("gio-2.0 was found once and then not: {e}");
            }
            println!("cargo::rustc-cfg=have_glib");
        }
        Err(e) => println!("cargo::warning=GLib peer left out (gio-2.0 not found: {e})"),
    }
}
