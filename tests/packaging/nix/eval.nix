# Evaluates packaging/nixos/module.nix as NixOS would for the option values `values`
# (services.drift-exporter.*): each option takes its value or its default (checked against its
# type), and the module's `config` comes back with every mkIf resolved, for
# tests/packaging/test_nixos.py to inspect as JSON. Also evaluates package.nix.
{ values ? { } }:
let
  lib = import ./lib.nix;
  pkgs = import ./pkgs.nix;
  root = ../../..;
  module = import (root + "/packaging/nixos/module.nix");
  evaluated = module { inherit lib pkgs; config.services.drift-exporter = cfg; };
  options = evaluated.options.services.drift-exporter;
  unknown = builtins.filter (n: !(options ? ${n})) (builtins.attrNames values);
  cfg =
    if unknown != [ ] then throw "no such option: ${builtins.concatStringsSep ", " unknown}"
    else builtins.mapAttrs
      (name: opt:
        let v = values.${name} or opt.default;
        in if opt.type.check v then v else throw "services.drift-exporter.${name}: not a ${opt.type.name}")
      options;
  # mkIf taken or dropped; store paths (attrsets with outPath) become their path.
  resolve = v:
    if builtins.isAttrs v && (v._type or null) == "if" then (if v.condition then resolve v.content else null)
    else if builtins.isAttrs v && v ? outPath then v.outPath
    else if builtins.isAttrs v then builtins.mapAttrs (_: resolve) v
    else if builtins.isList v then map resolve v
    else v;
  etc = evaluated.config.content.environment.etc;
  polkit = etc."polkit-1/rules.d/60-drift-exporter.rules";
  package = import (root + "/packaging/nixos/package.nix") ({
    inherit lib;
    stdenv.mkDerivation = attrs: attrs;
  } // builtins.listToAttrs (map (name: { inherit name; value = { outPath = "/nix/store/00000000000000000000000000000000-${name}"; }; }) [
    "cmake" "pkg-config" "help2man" "cli11" "curl" "fmt" "gnutls" "howard-hinnant-date" "libmicrohttpd"
    "libsodium" "libxcrypt" "nlohmann_json" "prometheus-cpp" "yaml-cpp" "zlib"
  ]) // { revision = "0123456789ab"; });
in
{
  enabled = evaluated.config.condition;
  config = resolve evaluated.config.content;
  options = builtins.attrNames options;
  # What the configuration file is made of: the settings (rendered to YAML by nixpkgs), and the
  # scripts that check it and generate the polkit rule at build time.
  settings = cfg.settings;
  check_script = etc."drift_exporter/config.yml".source.script or null;
  polkit_script = if polkit.condition then polkit.content.source.script else null;
  package = {
    inherit (package) pname version cmakeFlags postFixup;
    inherit (package.meta) mainProgram license;
  };
}
