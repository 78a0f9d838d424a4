# The part of nixpkgs' `lib` that packaging/nixos/{module,package}.nix use, written for the
# test: nixpkgs is not on this machine, and the tests run offline. Option types check values the
# way nixpkgs' do for the values the tests set.
let
  mkType = name: check: { inherit name check; };
  isStorePath = v: builtins.isAttrs v && v ? outPath;
in
rec {
  mkOption = attrs: attrs // { _type = "option"; };
  mkEnableOption = what: mkOption { type = types.bool; default = false; description = "Whether to enable ${what}."; };
  mkIf = condition: content: { _type = "if"; inherit condition content; };
  literalExpression = text: { _type = "literalExpression"; inherit text; };

  types = {
    bool = mkType "bool" builtins.isBool;
    str = mkType "str" builtins.isString;
    port = mkType "port" (v: builtins.isInt v && v >= 0 && v <= 65535);
    path = mkType "path" (v: builtins.isPath v || isStorePath v || (builtins.isString v && builtins.substring 0 1 v == "/"));
    package = mkType "package" isStorePath;
    listOf = t: mkType "listOf ${t.name}" (v: builtins.isList v && builtins.all t.check v);
    nullOr = t: mkType "nullOr ${t.name}" (v: v == null || t.check v);
  };

  hasInfix = infix: s: builtins.match ".*${escapeRegex infix}.*" s != null;
  escapeRegex = s: builtins.replaceStrings [ "." "[" "]" "(" ")" "*" "+" "?" "^" "$" "|" "\\" "{" "}" ]
    [ "\\." "\\[" "\\]" "\\(" "\\)" "\\*" "\\+" "\\?" "\\^" "\\$" "\\|" "\\\\" "\\{" "\\}" ] s;
  optional = cond: x: if cond then [ x ] else [ ];
  getExe = p: "${p}/bin/${p.meta.mainProgram}";
  # nixpkgs quotes only what needs it; always quoting is equivalent for a shell and for systemd.
  escapeShellArg = s: "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] (toString s)}'";
  escapeShellArgs = args: builtins.concatStringsSep " " (map escapeShellArg args);
  makeLibraryPath = ps: builtins.concatStringsSep ":" (map (p: "${p}/lib") ps);
  cleanSourceWith = { src, filter, ... }: { outPath = toString src; inherit filter; };
  licenses.asl20 = "asl20";
  platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
}
