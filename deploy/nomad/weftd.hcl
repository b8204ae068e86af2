# weftd, weft's node agent, on every Nomad client (docs/deploy-nomad.md).
#
# Before the first run, put the join token and the manager's CA in the
# job's own Nomad variable, which only this job's tasks can read:
#
#   nomad var put nomad/jobs/weftd join_token=@join.token \
#       manager_ca=@/var/lib/weft-manager/ca.crt
#
# The token never appears in this file, in the job as Nomad stores it, or
# in weftd's arguments: it reaches the task as a 0600 file in its secrets
# directory.

job "weftd" {
  # One allocation on every client, new clients included: every node that
  # runs allocations on cni/weft needs its agent.
  type = "system"

  group "weftd" {
    task "weftd" {
      # Why raw_exec: weftd configures the node itself, not a container.
      # It needs the host's network namespace (the node's WireGuard
      # device, pod routes and veths, the nftables masquerade) and root
      # (CAP_NET_ADMIN, and setns into allocations' namespaces); its
      # socket must be at /run/weft/weftd.sock on the host, where weft-cni,
      # run by the Nomad client, looks for it; and it keeps its state in
      # /var/lib/weft across restarts. exec and docker would isolate
      # exactly what it has to reach; raw_exec runs the packaged binary as
      # the client's own user (root) on the host, with Nomad still
      # restarting it and rendering its settings.
      driver = "raw_exec"

      config {
        command = "/usr/sbin/weftd"
        args    = ["--config", "${NOMAD_TASK_DIR}/weftd.json"]
      }

      # weftd stops cleanly on either; pods keep their interfaces and
      # routes while it is away, and it takes them back when it starts.
      kill_signal  = "SIGTERM"
      kill_timeout = "10s"

      # The join token is read once, when the node first joins; after that
      # weftd has its own credential in /var/lib/weft. A new token in the
      # variable therefore needs no restart.
      template {
        destination = "secrets/join.token"
        perms       = "0600"
        change_mode = "noop"
        data        = <<-EOT
        {{- with nomadVar "nomad/jobs/weftd" }}{{ .join_token }}{{ end }}
        EOT
      }

      # The CA weftd pins for the manager's certificate; public, but kept
      # in the same variable so that one command sets everything up.
      template {
        destination = "local/manager-ca.crt"
        change_mode = "restart"
        data        = <<-EOT
        {{- with nomadVar "nomad/jobs/weftd" }}{{ .manager_ca }}{{ end }}
        EOT
      }

      # weftd's settings (docs/cni.md, "weftd"). The node's name and its
      # address on the underlay come from the client; the manager's
      # address from Nomad's service catalogue, every instance of it
      # (weftd takes a comma-separated list). A change there renders the
      # file again and restarts weftd, which keeps its pods.
      template {
        destination = "local/weftd.json"
        change_mode = "restart"
        data        = <<-EOT
        {
          "nodeName": "{{ env "node.unique.name" }}",
          "endpoint": "{{ env "attr.unique.network.ip-address" }}",
          "manager": "{{ range $i, $s := nomadService "weft-manager" }}{{ if $i }},{{ end }}https://{{ $s.Address }}:{{ $s.Port }}{{ end }}",
          "managerCA": "{{ env "NOMAD_TASK_DIR" }}/manager-ca.crt",
          "joinTokenFile": "{{ env "NOMAD_SECRETS_DIR" }}/join.token",
          "stateDir": "/var/lib/weft",
          "socket": "/run/weft/weftd.sock",
          "logLevel": "info"
        }
        EOT
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
