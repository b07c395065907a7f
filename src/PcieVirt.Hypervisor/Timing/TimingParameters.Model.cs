using System.Globalization;
using PcieVirt.Platform.Model;

namespace PcieVirt.Hypervisor.Timing;

public sealed partial class TimingParameters
{
    /// <summary>
    /// The defaults overridden by the model's <c>"timing"</c> section. Throws a
    /// <see cref="PlatformModelException"/> listing every unknown name and out-of-range value, each with
    /// its JSON path and source position.
    /// </summary>
    public static TimingParameters FromModel(PlatformModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return TryFromModel(model, out var parameters, out var errors)
            ? parameters
            : throw new PlatformModelException(model.SourceName, errors);
    }

    /// <summary>
    /// Like <see cref="FromModel"/> but reports problems in <paramref name="errors"/> (all of them, in source
    /// order); false when there are any, and <paramref name="parameters"/> is then the defaults.
    /// </summary>
    public static bool TryFromModel(PlatformModel model, out TimingParameters parameters, out IReadOnlyList<ModelError> errors)
    {
        ArgumentNullException.ThrowIfNull(model);
        var values = new ulong[Table.Count];
        foreach (var p in Table) values[(int)p.Parameter] = p.Default;
        var found = new List<ModelError>();
        foreach (var s in model.Timing)
        {
            if (Find(s.Name) is not { } info)
            {
                found.Add(s.Error($"unknown timing parameter '{s.Name}'; nearest valid names: {string.Join(", ", NearestNames(s.Name, 3).Select(n => "'" + n + "'"))}"));
                continue;
            }
            if (!info.IsValid(s.Value))
            {
                found.Add(s.Error(string.Create(CultureInfo.InvariantCulture, $"{info.Name} = {s.Value} is out of range: must be {info.RangeText}")));
                continue;
            }
            values[(int)info.Parameter] = s.Value;
        }
        errors = found.AsReadOnly();
        parameters = found.Count == 0 ? new TimingParameters(values) : new TimingParameters();
        return found.Count == 0;
    }

    /// <summary>
    /// The <paramref name="count"/> table names closest to <paramref name="name"/>: names containing it
    /// first, then by edit distance to the name or to its stem without the unit suffix, then table order.
    /// </summary>
    public static IReadOnlyList<string> NearestNames(string name, int count)
    {
        ArgumentNullException.ThrowIfNull(name);
        var lower = name.ToLowerInvariant();
        return Table.Select((p, i) => (p.Name, Distance: Closeness(lower, p.Name), Index: i))
            .OrderBy(x => x.Distance).ThenBy(x => x.Index)
            .Take(count).Select(x => x.Name).ToList().AsReadOnly();
    }

    static int Closeness(string query, string name)
    {
        if (query.Length > 0 && name.Contains(query, StringComparison.Ordinal)) return 0;
        var stem = name.EndsWith("_ns", StringComparison.Ordinal) ? name[..^3]
            : name.EndsWith("_bytes", StringComparison.Ordinal) ? name[..^6] : name;
        return Math.Min(EditDistance(query, name), EditDistance(query, stem));
    }

    // Levenshtein distance over the short parameter names.
    static int EditDistance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
