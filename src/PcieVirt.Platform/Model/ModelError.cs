namespace PcieVirt.Platform.Model;

/// <summary>
/// One problem found in a platform model: where (a JSON path such as
/// <c>$.hosts[0].rootPorts[1].downstream.functions[0].bars[2].size</c>, plus the line and column in
/// the source when known) and what is wrong.
/// </summary>
public sealed record ModelError(string Path, string Message)
{
    /// <summary>Name of the file or text the model came from.</summary>
    public string SourceName { get; init; } = "";
    /// <summary>1-based line of the offending token, 0 when unknown.</summary>
    public int Line { get; init; }
    /// <summary>1-based column (in characters) of the offending token, 0 when unknown.</summary>
    public int Column { get; init; }

    /// <summary>Compiler-style text: <c>source:line:column: path: message</c>.</summary>
    public override string ToString()
    {
        var where = Line > 0 ? $"{SourceName}:{Line}:{Column}" : SourceName;
        return where.Length > 0 ? $"{where}: {Path}: {Message}" : $"{Path}: {Message}";
    }
}

/// <summary>The outcome of loading a platform model: the model, or every error found.</summary>
public sealed class PlatformModelResult
{
    internal PlatformModelResult(string sourceName, PlatformModel? model, IReadOnlyList<ModelError> errors)
    {
        SourceName = sourceName;
        Model = errors.Count == 0 ? model : null;
        Errors = errors;
    }

    public string SourceName { get; }
    /// <summary>The model; null when <see cref="Errors"/> is not empty.</summary>
    public PlatformModel? Model { get; }
    /// <summary>All errors found, sorted by their position in the source.</summary>
    public IReadOnlyList<ModelError> Errors { get; }
    public bool Success => Errors.Count == 0;

    /// <summary>The model, or a <see cref="PlatformModelException"/> listing every error.</summary>
    public PlatformModel GetModelOrThrow() => Model ?? throw new PlatformModelException(SourceName, Errors);
}

/// <summary>Thrown by <see cref="PlatformModelResult.GetModelOrThrow"/> for an invalid model.</summary>
public sealed class PlatformModelException(string sourceName, IReadOnlyList<ModelError> errors)
    : Exception(FormatMessage(sourceName, errors))
{
    public IReadOnlyList<ModelError> Errors { get; } = errors;

    static string FormatMessage(string sourceName, IReadOnlyList<ModelError> errors) =>
        $"platform model '{sourceName}' has {errors.Count} error(s):" + Environment.NewLine
        + string.Join(Environment.NewLine, errors.Select(e => "  " + e));
}
