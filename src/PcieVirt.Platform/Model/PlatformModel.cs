using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PcieVirt.Platform.Model;

/// <summary>
/// A platform description: one or more hosts, each a root complex with its hierarchy of ports,
/// switches and endpoints. Immutable; built by <see cref="Parse"/> / <see cref="Load"/>, which
/// validate the JSON (schema in <c>devicemodels/README.md</c>) and report every error found.
/// </summary>
public sealed record PlatformModel
{
    public required string Name { get; init; }
    public string? Description { get; init; }
    public required IReadOnlyList<HostModel> Hosts { get; init; }
    /// <summary>File name or label the model was read from.</summary>
    public string SourceName { get; init; } = "";
    /// <summary>
    /// The <c>"timing"</c> section as written (names and integer values, in source order); empty when
    /// absent. Names and ranges are checked by the timing model (PcieVirt.Hypervisor).
    /// </summary>
    public IReadOnlyList<TimingSetting> Timing { get; init; } = [];
    /// <summary>Directory of the model file (relative paths in it, such as drive images, are taken from here); null for models not read from a file.</summary>
    public string? BaseDirectory { get; init; }
    /// <summary>The multi-root section (an MRA switch shared by the hosts), or null.</summary>
    public MultiRootModel? MultiRoot { get; init; }

    /// <summary>Manifest name of the built-in default platform in this assembly.</summary>
    public const string DefaultResourceName = "PcieVirt.devicemodels.default.json";

    /// <summary>Every endpoint function of every host.</summary>
    public IEnumerable<FunctionModel> AllFunctions() => Hosts.SelectMany(h => h.AllFunctions());

    /// <summary>Parses and validates model text. Never throws for bad input: problems come back as errors.</summary>
    public static PlatformModelResult Parse(string json, string sourceName, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        return ParseUtf8(Encoding.UTF8.GetBytes(json), sourceName, logger ?? NullLogger.Instance);
    }

    /// <summary>Reads, parses and validates a model file. An unreadable file is reported as an error.</summary>
    public static PlatformModelResult Load(string path, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        var log = logger ?? NullLogger.Instance;
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            var error = new ModelError(JsonPaths.Root, $"cannot read the file: {ex.Message}") { SourceName = path };
            Log.ModelInvalid(log, path, 1, error.ToString());
            return new PlatformModelResult(path, null, [error]);
        }
        var result = ParseUtf8(bytes, path, log);
        if (result.Model is { } m) result = new PlatformModelResult(path, m with { BaseDirectory = Path.GetDirectoryName(Path.GetFullPath(path)) }, []);
        return result;
    }

    /// <summary>The built-in default platform (devicemodels/default.json, embedded in this assembly).</summary>
    public static PlatformModel LoadDefault(ILogger? logger = null)
    {
        var text = ReadDefaultJson();
        return ParseUtf8(Encoding.UTF8.GetBytes(text), "default.json", logger ?? NullLogger.Instance).GetModelOrThrow();
    }

    /// <summary>The text of the built-in default platform model.</summary>
    public static string ReadDefaultJson()
    {
        using var stream = typeof(PlatformModel).Assembly.GetManifestResourceStream(DefaultResourceName)
            ?? throw new InvalidOperationException($"resource {DefaultResourceName} is missing from the assembly");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    static PlatformModelResult ParseUtf8(byte[] utf8, string sourceName, ILogger logger)
    {
        // A UTF-8 byte order mark is legal in a file but not inside JSON text.
        if (utf8.Length >= 3 && utf8[0] == 0xEF && utf8[1] == 0xBB && utf8[2] == 0xBF) utf8 = utf8[3..];

        var docOptions = new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = 64 };
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(utf8, docOptions);
        }
        catch (JsonException ex)
        {
            var error = MalformedJson(ex, sourceName);
            Log.ModelInvalid(logger, sourceName, 1, error.ToString());
            return new PlatformModelResult(sourceName, null, [error]);
        }

        using (doc)
        {
            var readerOptions = new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = 64 };
            var ctx = new ParseContext(sourceName, JsonPositionMap.Build(utf8, readerOptions));
            var model = new ModelParser(ctx).ParsePlatform(doc.RootElement);
            if (ctx.ErrorCount > 0)
            {
                var errors = ctx.SortedErrors();
                Log.ModelInvalid(logger, sourceName, errors.Count, errors[0].ToString());
                foreach (var e in errors) Log.ModelError(logger, e.ToString());
                return new PlatformModelResult(sourceName, null, errors);
            }
            model = model! with { SourceName = sourceName };
            Log.ModelLoaded(logger, model.Name, sourceName, model.Hosts.Count, model.AllFunctions().Count());
            return new PlatformModelResult(sourceName, model, []);
        }
    }

    static ModelError MalformedJson(JsonException ex, string sourceName)
    {
        // JsonException's message ends with its own position text; we report the position in our format.
        var message = ex.Message;
        int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut > 0) message = message[..cut].TrimEnd();
        int line = (int)(ex.LineNumber ?? 0) + 1;
        int column = (int)(ex.BytePositionInLine ?? 0) + 1;
        return new ModelError(string.IsNullOrEmpty(ex.Path) ? JsonPaths.Root : ex.Path!,
            $"malformed JSON at line {line}, column {column}: {message}")
        { SourceName = sourceName, Line = line, Column = column };
    }
}

/// <summary>Log messages of the model loader.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Debug, Message = "Loaded platform model '{Name}' from {Source}: {Hosts} host(s), {Functions} function(s)")]
    public static partial void ModelLoaded(ILogger logger, string name, string source, int hosts, int functions);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Platform model {Source} is invalid ({Count} error(s)); first: {First}")]
    public static partial void ModelInvalid(ILogger logger, string source, int count, string first);

    [LoggerMessage(EventId = 102, Level = LogLevel.Debug, Message = "Model error: {Error}")]
    public static partial void ModelError(ILogger logger, string error);
}
