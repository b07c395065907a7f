using System.Text.RegularExpressions;

namespace PcieVirt.Tests.Support;

/// <summary>Rewrites of lspci text for comparing a live listing with the real lspci reading a dump.</summary>
internal static partial class LspciOutput
{
    /// <summary>
    /// Our live lspci annotates BARs and ROMs with the sizes firmware found (a live lspci reads them
    /// from sysfs); lspci -F on a dump cannot know them. Removes exactly those annotations (bridge
    /// window sizes come from config and stay).
    /// </summary>
    public static string WithoutSizes(string lspciOutput) => SizeAnnotation().Replace(lspciOutput, "$1");

    [GeneratedRegex(@"^(\t(?:Region \d+: |Memory at |I/O ports at |Expansion ROM |\[virtual\] ).*?) \[size=[0-9]+[KMGT]?\]$", RegexOptions.Multiline)]
    private static partial Regex SizeAnnotation();
}
