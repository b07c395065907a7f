using System.Text.Json;

namespace PcieVirt.Platform.Model;

/// <summary>A number read from the model with the text it was written as (for messages).</summary>
internal readonly record struct Num(ulong Value, string Text);

/// <summary>Collects errors while a model is read; every check reports here and carries on.</summary>
internal sealed class ParseContext(string sourceName, JsonPositionMap? positions)
{
    readonly List<ModelError> _errors = [];

    public string SourceName { get; } = sourceName;
    public IReadOnlyList<ModelError> Errors => _errors;

    /// <summary>The errors in source order (line, column); errors without a position keep their order, last.</summary>
    public IReadOnlyList<ModelError> SortedErrors() =>
        _errors.Select((e, i) => (e, i))
            .OrderBy(x => x.e.Line == 0 ? int.MaxValue : x.e.Line).ThenBy(x => x.e.Column).ThenBy(x => x.i)
            .Select(x => x.e).ToList().AsReadOnly();
    public int ErrorCount => _errors.Count;

    /// <summary>Line and column of <paramref name="path"/> in the source; (0, 0) when unknown.</summary>
    public (int Line, int Column) Position(string path) => positions?.Find(path) ?? (0, 0);

    public void Error(string path, string message)
    {
        var (line, column) = positions?.Find(path) ?? (0, 0);
        _errors.Add(new ModelError(path, message) { SourceName = SourceName, Line = line, Column = column });
    }

    public static string KindName(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>Reads a number given as a JSON integer or a numeric string (see <see cref="ModelNumber"/>).</summary>
    public Num? Number(JsonElement e, string path, ulong min, ulong max)
    {
        Num n;
        switch (e.ValueKind)
        {
            case JsonValueKind.Number:
                if (!e.TryGetUInt64(out var v))
                {
                    Error(path, $"{e.GetRawText()} is not a non-negative integer");
                    return null;
                }
                n = new Num(v, e.GetRawText());
                break;
            case JsonValueKind.String:
                var text = e.GetString()!;
                if (!ModelNumber.TryParse(text, out var parsed, out var err))
                {
                    Error(path, err!);
                    return null;
                }
                n = new Num(parsed, text);
                break;
            default:
                Error(path, $"expected a number or a numeric string, found {KindName(e.ValueKind)}");
                return null;
        }
        if (n.Value < min || n.Value > max)
        {
            Error(path, $"{n.Text} is out of range {Bound(min, max)}..{Bound(max, max)}");
            return null;
        }
        return n;
    }

    // Small bounds read best in decimal, register-sized ones in hex.
    static string Bound(ulong v, ulong max) => max > 0xFFFF ? ModelNumber.Hex(v) : v.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// Reads one JSON object of the model: reports a wrong type, duplicate and unknown properties once,
/// then hands out typed values, reporting each problem with its path. A missing or invalid value
/// yields null (or the default) so reading carries on and all errors are found in one pass.
/// </summary>
internal sealed class ObjectReader
{
    readonly ParseContext _ctx;
    readonly Dictionary<string, JsonElement>? _props;

    public ObjectReader(ParseContext ctx, JsonElement element, string path, params string[] known)
    {
        _ctx = ctx;
        Path = path;
        if (element.ValueKind != JsonValueKind.Object)
        {
            ctx.Error(path, $"expected an object, found {ParseContext.KindName(element.ValueKind)}");
            return;
        }
        _props = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var p in element.EnumerateObject())
        {
            var pp = PathOf(p.Name);
            if (System.Array.IndexOf(known, p.Name) < 0)
            {
                var hint = Suggest(p.Name, known);
                ctx.Error(pp, hint != null ? $"unknown property '{p.Name}' (did you mean '{hint}'?)" : $"unknown property '{p.Name}'");
            }
            else if (!_props.TryAdd(p.Name, p.Value))
            {
                ctx.Error(pp, $"duplicate property '{p.Name}'");
            }
        }
    }

    public string Path { get; }
    public bool IsObject => _props != null;
    public ParseContext Context => _ctx;

    public string PathOf(string name) => JsonPaths.Property(Path, name);

    /// <summary>The property's value; null when absent or JSON null (both mean "not given").</summary>
    public JsonElement? Get(string name) =>
        _props != null && _props.TryGetValue(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public bool Has(string name) => Get(name) != null;

    /// <summary>Reports a missing required property (only when this is an object at all).</summary>
    public void Missing(string name)
    {
        if (_props != null) _ctx.Error(PathOf(name), "missing required property");
    }

    public Num? Number(string name, ulong min, ulong max, bool required = false)
    {
        if (Get(name) is not { } e)
        {
            if (required) Missing(name);
            return null;
        }
        return _ctx.Number(e, PathOf(name), min, max);
    }

    public ulong Number(string name, ulong min, ulong max, ulong defaultValue) =>
        Number(name, min, max)?.Value ?? defaultValue;

    public int Int(string name, int min, int max, int defaultValue) =>
        (int)(Number(name, (ulong)min, (ulong)max)?.Value ?? (ulong)defaultValue);

    public bool Bool(string name, bool defaultValue)
    {
        if (Get(name) is not { } e) return defaultValue;
        if (e.ValueKind is JsonValueKind.True or JsonValueKind.False) return e.GetBoolean();
        _ctx.Error(PathOf(name), $"expected true or false, found {ParseContext.KindName(e.ValueKind)}");
        return defaultValue;
    }

    public string? String(string name, bool required = false)
    {
        if (Get(name) is not { } e)
        {
            if (required) Missing(name);
            return null;
        }
        if (e.ValueKind == JsonValueKind.String) return e.GetString();
        _ctx.Error(PathOf(name), $"expected a string, found {ParseContext.KindName(e.ValueKind)}");
        return null;
    }

    /// <summary>Reads one of a fixed set of keywords (compared case-sensitively, as the schema spells them).</summary>
    public T? Keyword<T>(string name, IReadOnlyDictionary<string, T> words, bool required = false) where T : struct
    {
        if (Get(name) is not { } e)
        {
            if (required) Missing(name);
            return null;
        }
        return ReadKeyword(_ctx, e, PathOf(name), words);
    }

    public static T? ReadKeyword<T>(ParseContext ctx, JsonElement e, string path, IReadOnlyDictionary<string, T> words) where T : struct
    {
        if (e.ValueKind == JsonValueKind.String && words.TryGetValue(e.GetString()!, out var v)) return v;
        var allowed = string.Join(", ", words.Keys.Select(k => "'" + k + "'"));
        var got = e.ValueKind == JsonValueKind.String ? $"'{e.GetString()}'" : ParseContext.KindName(e.ValueKind);
        ctx.Error(path, $"{got} is not one of {allowed}");
        return null;
    }

    /// <summary>The elements of an array property with their paths; reports a non-array.</summary>
    public IReadOnlyList<(JsonElement Element, string Path)> Array(string name, bool required = false)
    {
        if (Get(name) is not { } e)
        {
            if (required) Missing(name);
            return [];
        }
        var path = PathOf(name);
        if (e.ValueKind != JsonValueKind.Array)
        {
            _ctx.Error(path, $"expected an array, found {ParseContext.KindName(e.ValueKind)}");
            return [];
        }
        return e.EnumerateArray().Select((x, i) => (x, JsonPaths.Index(path, i))).ToList();
    }

    public ObjectReader? Object(string name, bool required, params string[] known)
    {
        if (Get(name) is not { } e)
        {
            if (required) Missing(name);
            return null;
        }
        return new ObjectReader(_ctx, e, PathOf(name), known);
    }

    /// <summary>A known property whose name is only a case or small typo away from the given one.</summary>
    static string? Suggest(string name, string[] known)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var k in known)
        {
            int d = string.Equals(k, name, StringComparison.OrdinalIgnoreCase) ? 0 : Distance(k.ToLowerInvariant(), name.ToLowerInvariant());
            if (d < bestDistance) { bestDistance = d; best = k; }
        }
        return bestDistance <= Math.Max(1, name.Length / 4) ? best : null;
    }

    // Levenshtein distance; model property names are short.
    static int Distance(string a, string b)
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
