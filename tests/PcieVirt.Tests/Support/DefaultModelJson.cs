using System.Text.Json;
using System.Text.Json.Nodes;
using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Support;

/// <summary>The embedded default model with the RAID controller's <c>settings</c> replaced, for tests that need small drives.</summary>
internal static class DefaultModelJson
{
    public static string WithRaidSettings(string settingsObject)
    {
        var root = JsonNode.Parse(PlatformModel.ReadDefaultJson(), documentOptions: new JsonDocumentOptions
        {
            CommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
        })!;
        var function = FindRaidFunction(root) ?? throw new InvalidOperationException("default.json has no raid-controller function");
        function["settings"] = JsonNode.Parse(settingsObject);
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    static JsonObject? FindRaidFunction(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                if (o["device"] is JsonValue v && v.TryGetValue(out string? kind) && kind == "raid-controller") return o;
                foreach (var (_, child) in o)
                    if (FindRaidFunction(child) is { } hit) return hit;
                return null;
            case JsonArray a:
                foreach (var child in a)
                    if (FindRaidFunction(child) is { } hit) return hit;
                return null;
            default:
                return null;
        }
    }
}
