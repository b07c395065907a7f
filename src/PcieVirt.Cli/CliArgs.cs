namespace PcieVirt.Cli;

/// <summary>
/// The options every pcievirt command shares (<c>--model FILE</c>, <c>--trace</c>, <c>--log-level L</c>),
/// taken out of the argument list wherever they appear; the rest is left for the command, whose own
/// flags follow pciutils' single-dash conventions.
/// </summary>
public sealed class CliArgs
{
    public string? ModelPath { get; private set; }
    public bool Trace { get; private set; }
    public string? LogLevel { get; private set; }
    public List<string> Rest { get; } = [];

    public static (CliArgs? Args, string? Error) Parse(IEnumerable<string> args)
    {
        var r = new CliArgs();
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            string a = e.Current;
            switch (a)
            {
                case "--model":
                    if (!e.MoveNext()) return (null, "--model needs a file name");
                    r.ModelPath = e.Current;
                    break;
                case "--trace":
                    r.Trace = true;
                    break;
                case "--log-level":
                    if (!e.MoveNext()) return (null, "--log-level needs a level (trace, debug, information, warning, error)");
                    r.LogLevel = e.Current;
                    break;
                default:
                    if (a.StartsWith("--model=", StringComparison.Ordinal)) r.ModelPath = a["--model=".Length..];
                    else r.Rest.Add(a);
                    break;
            }
        }
        return (r, null);
    }
}
