# services.drift-exporter: drift_exporter as a hardened service, in the style of nixpkgs'
# Prometheus exporter modules (enable, port, listenAddress, extraFlags, openFirewall, user,
# group), with `settings` rendered to /etc/drift_exporter/config.yml. The unit's hardening is the
# Debian unit's (read from packaging/systemd/drift-exporter.service.in). With healing runbooks
# in `settings`, the polkit rule that lets the service's user run exactly their systemctl unit
# actions is generated from the same configuration (`drift_exporter healing polkit-rule`).
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkEnableOption mkIf mkOption types;
  cfg = config.services.drift-exporter;
  yaml = pkgs.formats.yaml { };

  # `Key=Value` lines between "# hardening: begin" and "# hardening: end" of the Debian unit; a
  # key given more than once (SystemCallFilter) becomes a list.
  hardening =
    let
      lines = builtins.filter builtins.isString
        (builtins.split "\n" (builtins.readFile ../systemd/drift-exporter.service.in));
      step = state: line:
        if builtins.match "# hardening: begin.*" line != null then state // { inside = true; }
        else if builtins.match "# hardening: end.*" line != null then state // { inside = false; }
        else if !state.inside then state
        else
          let kv = builtins.match "([A-Za-z]+)=(.*)" line;
          in if kv == null then state
          else state // { pairs = state.pairs ++ [{ name = builtins.elemAt kv 0; value = builtins.elemAt kv 1; }]; };
      pairs = (builtins.foldl' step { inside = false; pairs = [ ]; } lines).pairs;
      valuesOf = name: map (p: p.value) (builtins.filter (p: p.name == name) pairs);
      names = builtins.attrNames (builtins.listToAttrs (map (p: { inherit (p) name; value = null; }) pairs));
    in
    builtins.listToAttrs (map
      (name:
        let values = valuesOf name;
        in { inherit name; value = if builtins.length values == 1 then builtins.head values else values; })
      names);

  configFile =
    if cfg.configFile != null then cfg.configFile
    else yaml.generate "drift_exporter.yml" cfg.settings;

  # Validated when the system is built, as `nixos-rebuild` would rather fail than start a
  # service that exits 2.
  checkedConfig =
    if !cfg.checkConfig then configFile
    else pkgs.runCommand "drift_exporter-checked.yml" { } ''
      ${lib.getExe cfg.package} --config.check --config.file=${configFile}
      ln -s ${configFile} $out
    '';

  polkitRule = pkgs.runCommand "60-drift-exporter.rules" { } ''
    ${lib.getExe cfg.package} healing polkit-rule --config.file=${configFile} \
      --user=${lib.escapeShellArg cfg.user} > $out
  '';

  # host:port, with brackets around an IPv6 address.
  listen =
    if lib.hasInfix ":" cfg.listenAddress then "[${cfg.listenAddress}]:${toString cfg.port}"
    else "${cfg.listenAddress}:${toString cfg.port}";
in
{
  options.services.drift-exporter = {
    enable = mkEnableOption "drift_exporter, which exports this host's configuration drift for Prometheus";

    package = mkOption {
      type = types.package;
      default = pkgs.drift-exporter;
      defaultText = lib.literalExpression "pkgs.drift-exporter";
      description = "The drift_exporter package (the flake's overlay provides pkgs.drift-exporter).";
    };

    port = mkOption {
      type = types.port;
      default = 9968;
      description = "Port to listen on.";
    };

    listenAddress = mkOption {
      type = types.str;
      default = "0.0.0.0";
      description = "Address to listen on (IPv6 without brackets).";
    };

    extraFlags = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "--log.level=debug" "--web.external-url=https://web1.example.com:9968" ];
      description = "Extra command line flags (drift_exporter --help).";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the port in the firewall.";
    };

    user = mkOption {
      type = types.str;
      default = "drift-exporter";
      description = "User to run as; created when left at the default.";
    };

    group = mkOption {
      type = types.str;
      default = "drift-exporter";
      description = "Group to run as; created when left at the default.";
    };

    settings = mkOption {
      type = yaml.type;
      default = { };
      example = lib.literalExpression ''
        {
          host.command_path = [ "/run/current-system/sw/bin" ];
          baseline_file = "/etc/drift_exporter/baseline.yml";
          checks = [{ name = "logging"; type = "logging";
                      params = { services = [ "systemd-journald.service" ]; window = "10m"; }; }];
        }
      '';
      description = ''
        The configuration (docs/configuration.md), rendered to YAML as
        /etc/drift_exporter/config.yml; packaging/examples/nixos.yml is a complete one.
        Secrets are file names here, never values.
      '';
    };

    configFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "A configuration file to use instead of `settings`.";
    };

    checkConfig = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Validate the configuration with `drift_exporter --config.check` when the system is
        built. The check reads the files the configuration names (web config, keys), which the
        build sandbox cannot see: turn it off when the configuration names such files.
      '';
    };

    webConfigFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "Web configuration (TLS, basic auth; docs/web_config.md): --web.config.file.";
    };
  };

  config = mkIf cfg.enable {
    environment.etc."drift_exporter/config.yml".source = checkedConfig;
    environment.etc."polkit-1/rules.d/60-drift-exporter.rules" = mkIf (cfg.settings ? runbooks || cfg.configFile != null) {
      source = polkitRule;
    };

    users.users = mkIf (cfg.user == "drift-exporter") {
      drift-exporter = {
        isSystemUser = true;
        group = cfg.group;
        description = "drift_exporter";
      };
    };
    users.groups = mkIf (cfg.group == "drift-exporter") { drift-exporter = { }; };

    networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall [ cfg.port ];

    systemd.services.drift-exporter = {
      description = "drift_exporter: this host's configuration drift for Prometheus";
      documentation = [ "man:drift_exporter(1)" ];
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      # A changed configuration is reloaded (SIGHUP), not restarted.
      reloadTriggers = [ checkedConfig ];
      serviceConfig = hardening // {
        Type = "exec";
        User = cfg.user;
        Group = cfg.group;
        SupplementaryGroups = [ "systemd-journal" ];
        ExecStart = lib.escapeShellArgs ([
          (lib.getExe cfg.package)
          "--config.file=/etc/drift_exporter/config.yml"
          "--web.listen-address=${listen}"
        ] ++ lib.optional (cfg.webConfigFile != null) "--web.config.file=${cfg.webConfigFile}"
        ++ cfg.extraFlags);
        ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
        Restart = "on-failure";
        RestartPreventExitStatus = 2;
        StateDirectory = "drift_exporter";
        StateDirectoryMode = "0750";
        UMask = "0027";
      };
    };
  };
}
