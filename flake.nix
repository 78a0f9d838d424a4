# drift_exporter for NixOS: the package, an overlay that adds it as pkgs.drift-exporter, and the
# module services.drift-exporter (packaging/nixos/module.nix; docs/operations.md, "NixOS").
#
#   inputs.drift-exporter.url = "github:<owner>/drift_exporter";
#   nixosConfigurations.host = nixpkgs.lib.nixosSystem {
#     modules = [ drift-exporter.nixosModules.default { services.drift-exporter.enable = true; } ];
#   };
{
  description = "drift_exporter: a host's configuration drift for Prometheus, with signed evidence";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forEachSystem = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      revision = self.shortRev or self.dirtyShortRev or "unknown";
    in
    {
      overlays.default = final: _prev: {
        drift-exporter = final.callPackage ./packaging/nixos/package.nix { inherit revision; };
      };

      packages = forEachSystem (pkgs: {
        default = pkgs.callPackage ./packaging/nixos/package.nix { inherit revision; };
      });

      nixosModules.default = {
        imports = [ ./packaging/nixos/module.nix ];
        nixpkgs.overlays = [ self.overlays.default ];
      };
    };
}
