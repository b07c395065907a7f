using System.Text.Json;

namespace PcieVirt.Platform.Model;

internal sealed partial class ModelParser
{
    /// <summary>
    /// The top-level <c>"timing"</c> object: parameter name → non-negative integer. Names and ranges
    /// belong to the timing model (PcieVirt.Hypervisor), which this layer cannot see, so here only the
    /// shape is checked: an object, integer values, no name given twice.
    /// </summary>
    IReadOnlyList<TimingSetting> ParseTiming(JsonElement? element, string path)
    {
        if (element is not { } e) return [];
        if (e.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(path, $"expected an object of timing parameters, found {ParseContext.KindName(e.ValueKind)}");
            return [];
        }
        var settings = new List<TimingSetting>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in e.EnumerateObject())
        {
            var pp = JsonPaths.Property(path, p.Name);
            if (!seen.Add(p.Name))
            {
                ctx.Error(pp, $"duplicate timing parameter '{p.Name}'");
                continue;
            }
            if (p.Value.ValueKind != JsonValueKind.Number)
            {
                ctx.Error(pp, $"expected a non-negative integer, found {ParseContext.KindName(p.Value.ValueKind)}");
                continue;
            }
            if (!p.Value.TryGetUInt64(out var value))
            {
                ctx.Error(pp, $"{p.Value.GetRawText()} is not a non-negative integer");
                continue;
            }
            var (line, column) = ctx.Position(pp);
            settings.Add(new TimingSetting(p.Name, value) { Path = pp, SourceName = ctx.SourceName, Line = line, Column = column });
        }
        return settings.AsReadOnly();
    }
}
