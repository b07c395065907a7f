namespace PcieVirt.Platform.Model;

/// <summary>
/// One entry of a model's <c>"timing"</c> section as written: a parameter name and a non-negative
/// integer, with where it came from. The platform layer checks only the JSON types; the timing model
/// (PcieVirt.Hypervisor) checks names and ranges and reports problems through <see cref="Error"/>.
/// </summary>
public sealed record TimingSetting(string Name, ulong Value)
{
    /// <summary>JSON path of the entry, e.g. <c>$.timing.vmexit_roundtrip_ns</c>.</summary>
    public string Path { get; init; } = "";
    /// <summary>File name or label the model was read from.</summary>
    public string SourceName { get; init; } = "";
    /// <summary>1-based line of the entry's name in the source, 0 when unknown.</summary>
    public int Line { get; init; }
    /// <summary>1-based column of the entry's name in the source, 0 when unknown.</summary>
    public int Column { get; init; }

    /// <summary>A model error about this entry, located at its path, line and column.</summary>
    public ModelError Error(string message) => new(Path, message) { SourceName = SourceName, Line = Line, Column = Column };
}
