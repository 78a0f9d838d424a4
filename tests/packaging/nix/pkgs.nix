# Stand-ins for the packages and builders packaging/nixos/{module,package}.nix use: store paths
# that are only names, and builders that return what they were given, for the test to inspect.
let
  storePath = name: attrs: attrs // { outPath = "/nix/store/00000000000000000000000000000000-${name}"; };
in
{
  drift-exporter = storePath "drift-exporter-0.1.0" { meta.mainProgram = "drift_exporter"; };
  coreutils = storePath "coreutils" { };
  formats.yaml = _: {
    type = { name = "yaml"; check = v: builtins.isAttrs v; };
    generate = name: value: storePath name { inherit value; };
  };
  runCommand = name: env: script: storePath name { inherit env script; };
}
