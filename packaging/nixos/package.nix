# The drift_exporter package: the same CMake build as the Debian package (no tests, no
# benchmarks; ./test.sh runs those), with the man page, the unit's hardening source and the rules.
{ lib
, stdenv
, cmake
, pkg-config
, help2man
, cli11
, curl
, fmt
, gnutls
, howard-hinnant-date
, libmicrohttpd
, libsodium
, libxcrypt
, nlohmann_json
, prometheus-cpp
, yaml-cpp
, zlib
, revision ? "unknown"
}:

let
  # One version for every package: CMake's project(VERSION).
  version = builtins.head (builtins.match ".*project\\(drift_exporter VERSION ([0-9.]+)[ )].*"
    (builtins.readFile ../../CMakeLists.txt));
in
stdenv.mkDerivation {
  pname = "drift-exporter";
  inherit version;

  src = lib.cleanSourceWith {
    src = ../..;
    # Build trees and the fuzzers' output are not sources.
    filter = path: _type: builtins.match ".*/build[^/]*" (toString path) == null;
  };

  nativeBuildInputs = [ cmake pkg-config help2man ];
  buildInputs = [
    cli11
    curl
    fmt
    gnutls
    howard-hinnant-date
    libmicrohttpd
    libsodium
    libxcrypt
    nlohmann_json
    prometheus-cpp
    yaml-cpp
    zlib
  ];

  cmakeFlags = [
    "-DDRIFT_BUILD_TESTS=OFF"
    "-DDRIFT_BUILD_BENCH=OFF"
    "-DDRIFT_MAN_PAGE=ON"
    "-DDRIFT_REVISION=${revision}"
  ];

  # libcurl is loaded (dlopen) only when `alerting:` is configured, so nothing links it: give the
  # binary its path.
  postFixup = ''
    patchelf --add-rpath ${lib.makeLibraryPath [ curl ]} $out/bin/drift_exporter
  '';

  meta = {
    description = "Prometheus exporter of a host's configuration drift, with signed evidence";
    license = lib.licenses.asl20;
    mainProgram = "drift_exporter";
    platforms = lib.platforms.linux;
  };
}
