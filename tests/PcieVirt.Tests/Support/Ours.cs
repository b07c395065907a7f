using PcieVirt.Fabric;

namespace PcieVirt.Tests.Support;

/// <summary>Our own pciutils (<c>PcieVirt.PciUtils</c>), run in-process on a host's config accessor.</summary>
internal static class Ours
{
    /// <summary>Our lspci with <paramref name="args"/> on <paramref name="host"/>; it must succeed. Returns stdout.</summary>
    public static string Lspci(IConfigAccessor host, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        Assert.That(PcieVirt.PciUtils.Lspci.Run(args, [host], o, e), Is.EqualTo(0), e.ToString());
        return o.ToString();
    }
}
