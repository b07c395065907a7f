using System.Text.Json.Nodes;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Platform;

/// <summary>A small valid platform and helpers to break one thing in it at a time.</summary>
internal static class Baseline
{
    public const string Json = """
    {
      "name": "t",
      "hosts": [{
        "name": "h0",
        "ecam": { "base": "0xE000_0000", "busStart": 0, "busEnd": 255 },
        "apertures": {
          "mmio32": { "base": "0xC000_0000", "size": "512M" },
          "mmio64": { "base": "0x40_0000_0000", "size": "16G" },
          "io": { "base": "0x1000", "size": "0x3000" }
        },
        "ramSize": "2G",
        "rootPorts": [
          { "device": 1, "slot": 1, "link": { "gen": 3, "width": "x4" },
            "downstream": { "type": "endpoint", "functions": [
              { "function": 0, "name": "dev0",
                "identity": { "vendorId": "0x1af4", "deviceId": "0x1041", "classCode": "0x020000" },
                "bars": [ { "index": 0, "kind": "mem64", "size": "16K" }, { "index": 2, "kind": "mem32", "size": "4K" } ],
                "capabilities": {
                  "msix": { "tableSize": 8, "tableBar": 0, "tableOffset": "0x2000", "pbaOffset": "0x3000" },
                  "ari": true,
                  "sriov": { "totalVfs": 4, "vfDeviceId": "0x1042",
                             "vfBars": [ { "index": 0, "kind": "mem64", "size": "16K" } ],
                             "vfMsix": { "tableSize": 2, "tableBar": 0, "tableOffset": 0, "pbaOffset": "0x1000" } }
                } } ] } },
          { "device": 2, "slot": 2, "link": { "gen": 3, "width": "x8" },
            "downstream": { "type": "switch", "name": "sw0",
              "identity": { "vendorId": "0x10b5", "deviceId": "0x8747" },
              "link": { "gen": 3, "width": "x8" },
              "downstreamPorts": [
                { "device": 0, "slot": 3, "link": { "gen": 3, "width": "x4" },
                  "downstream": { "type": "endpoint", "functions": [
                    { "function": 0, "name": "dev1",
                      "identity": { "vendorId": "0x1af4", "deviceId": "0x1042", "classCode": "0x010802" },
                      "bars": [ { "index": 0, "kind": "mem64", "size": "16K" } ] } ] } },
                { "device": 1, "slot": 4, "link": { "gen": 3, "width": "x4" }, "hotPlug": true, "busReserve": 2 }
              ] } }
        ]
      }]
    }
    """;

    public const string Host = "$.hosts[0]";
    public const string Rp0 = "$.hosts[0].rootPorts[0]";
    public const string Rp1 = "$.hosts[0].rootPorts[1]";
    public const string F0 = "$.hosts[0].rootPorts[0].downstream.functions[0]";
    public const string Dp0 = "$.hosts[0].rootPorts[1].downstream.downstreamPorts[0]";
    public const string Dp1 = "$.hosts[0].rootPorts[1].downstream.downstreamPorts[1]";
    public const string F1 = "$.hosts[0].rootPorts[1].downstream.downstreamPorts[0].downstream.functions[0]";

    public static JsonNode HostNode(JsonNode n) => n["hosts"]![0]!;
    public static JsonNode RootPort(JsonNode n, int i) => HostNode(n)["rootPorts"]![i]!;
    public static JsonNode Function0(JsonNode n) => RootPort(n, 0)["downstream"]!["functions"]![0]!;
    public static JsonNode Caps0(JsonNode n) => Function0(n)["capabilities"]!;
    public static JsonNode Sriov0(JsonNode n) => Caps0(n)["sriov"]!;
    public static JsonNode Switch(JsonNode n) => RootPort(n, 1)["downstream"]!;
    public static JsonNode DownstreamPort(JsonNode n, int i) => Switch(n)["downstreamPorts"]![i]!;
    public static JsonNode Function1(JsonNode n) => DownstreamPort(n, 0)["downstream"]!["functions"]![0]!;

    public static PlatformModelResult ParseWith(Action<JsonNode> mutate)
    {
        var node = JsonNode.Parse(Json)!;
        mutate(node);
        return PlatformModel.Parse(node.ToJsonString(), "test.json");
    }

    public static string Describe(PlatformModelResult r) =>
        r.Errors.Count == 0 ? "(no errors)" : string.Join("\n", r.Errors);
}
