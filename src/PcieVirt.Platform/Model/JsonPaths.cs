using System.Text;
using System.Text.Json;

namespace PcieVirt.Platform.Model;

/// <summary>Builds JSON paths in the <c>$.a.b[2]['odd name']</c> notation used by model errors.</summary>
internal static class JsonPaths
{
    public const string Root = "$";

    public static string Property(string parent, string name)
    {
        bool plain = name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_' || name[0] == '$');
        for (int i = 1; plain && i < name.Length; i++)
            plain = char.IsAsciiLetterOrDigit(name[i]) || name[i] == '_' || name[i] == '$';
        return plain ? parent + "." + name : parent + "['" + name.Replace("\\", "\\\\").Replace("'", "\\'") + "']";
    }

    public static string Index(string parent, int index) => parent + "[" + index + "]";
}

/// <summary>
/// Maps JSON paths to the line and column where the value (or, for a property, its name) starts,
/// so errors found while walking the parsed document can point into the source text.
/// </summary>
internal sealed class JsonPositionMap
{
    readonly Dictionary<string, int> _offsets = new(StringComparer.Ordinal);
    readonly byte[] _utf8;
    readonly List<int> _lineStarts = [0];

    JsonPositionMap(byte[] utf8)
    {
        _utf8 = utf8;
        for (int i = 0; i < utf8.Length; i++)
            if (utf8[i] == (byte)'\n') _lineStarts.Add(i + 1);
    }

    /// <summary>Scans an already validated document; never throws for input JsonDocument accepted.</summary>
    public static JsonPositionMap Build(byte[] utf8, JsonReaderOptions options)
    {
        var map = new JsonPositionMap(utf8);
        var reader = new Utf8JsonReader(utf8, options);
        // Per open container: its path, whether it is an array, the next index, the pending property path.
        var stack = new List<(string Path, bool IsArray, int Next, string? Pending)>();
        while (reader.Read())
        {
            int at = (int)reader.TokenStartIndex;
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                {
                    var top = stack[^1];
                    var path = JsonPaths.Property(top.Path, reader.GetString() ?? "");
                    map._offsets.TryAdd(path, at);
                    stack[^1] = top with { Pending = path };
                    break;
                }
                case JsonTokenType.EndObject:
                case JsonTokenType.EndArray:
                    stack.RemoveAt(stack.Count - 1);
                    break;
                case JsonTokenType.Comment:
                    break;
                default:
                {
                    string path;
                    if (stack.Count == 0)
                    {
                        path = JsonPaths.Root;
                        map._offsets.TryAdd(path, at);
                    }
                    else if (stack[^1].IsArray)
                    {
                        var top = stack[^1];
                        path = JsonPaths.Index(top.Path, top.Next);
                        stack[^1] = top with { Next = top.Next + 1 };
                        map._offsets.TryAdd(path, at);
                    }
                    else
                    {
                        path = stack[^1].Pending ?? JsonPaths.Root;
                    }
                    if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                        stack.Add((path, reader.TokenType == JsonTokenType.StartArray, 0, null));
                    break;
                }
            }
        }
        return map;
    }

    /// <summary>Line and column (1-based) of <paramref name="path"/> or its nearest known ancestor.</summary>
    public (int Line, int Column) Find(string path)
    {
        var p = path;
        while (true)
        {
            if (_offsets.TryGetValue(p, out int offset)) return Position(offset);
            int cut = Math.Max(p.LastIndexOf('.'), p.LastIndexOf('['));
            if (cut <= 0) return (0, 0);
            p = p[..cut];
        }
    }

    (int, int) Position(int offset)
    {
        int line = _lineStarts.BinarySearch(offset);
        if (line < 0) line = ~line - 1;
        int column = Encoding.UTF8.GetCharCount(_utf8, _lineStarts[line], offset - _lineStarts[line]) + 1;
        return (line + 1, column);
    }
}
