using PcieVirt.Platform.Model;

namespace PcieVirt.Tests.Platform;

/// <summary>The invalid models under Models/: every mistake in a file is reported, in one load.</summary>
[TestFixture]
public class InvalidModelFileTests
{
    static PlatformModelResult Load(string name) => PlatformModel.Load(ModelFiles.TestModel(name));

    static void AssertErrors(PlatformModelResult r, params (string Path, string Message)[] expected)
    {
        var text = string.Join("\n", r.Errors);
        Assert.That(r.Model, Is.Null);
        Assert.That(r.Errors, Has.Count.EqualTo(expected.Length), text);
        foreach (var (path, message) in expected)
            Assert.That(r.Errors.Any(e => e.Path == path && e.Message.Contains(message, StringComparison.Ordinal)), Is.True,
                $"expected '{path}: …{message}…' among:\n{text}");
    }

    [Test]
    public void Malformed_ReportsLineAndColumnOfTheSyntaxError()
    {
        var r = Load("invalid-malformed.json");
        Assert.That(r.Errors, Has.Count.EqualTo(1));
        var e = r.Errors[0];
        // Line 7 is `      "segment": 0` after a line without its comma; the token starts in column 7.
        Assert.That((e.Line, e.Column), Is.EqualTo((7, 7)), e.ToString());
        Assert.That(e.Message, Does.StartWith("malformed JSON at line 7, column 7: "));
        Assert.That(e.Message, Does.Not.Contain("LineNumber"), "no duplicate position text from System.Text.Json");
        Assert.That(e.ToString(), Does.StartWith(ModelFiles.TestModel("invalid-malformed.json") + ":7:7: "));
    }

    [Test]
    public void ManyErrors_AllReportedAtOnce()
    {
        const string nic = "$.hosts[0].rootPorts[1].downstream.functions[0]";
        AssertErrors(Load("invalid-many-errors.json"),
            ("$.hosts[0].ecam.base", "0xE008_0000 is not aligned to 256 MiB"),
            ("$.hosts[0].rootPorts[0].link.width", "x3 is not a link width"),
            (nic + ".identity.interruptPin", "'E' is not one of"),
            (nic + ".bars[2].size", "12K is not a power of two"),
            (nic + ".capabilities.msix.pbaOffset", "the PBA at 0x200 (8 bytes) overlaps the MSI-X table at 0x0 (1024 bytes)"),
            (nic + ".capabilities.pcie.maxPayload", "384 is not a power of two"),
            ("$.hosts[0].rootPorts[2].busRserve", "unknown property 'busRserve' (did you mean 'busReserve'?)"),
            ("$.hosts[0].rootPorts[2].hotPlug", "a hot-plug port needs a physical slot number"));
    }

    [Test]
    public void ManyErrors_PositionsPointAtTheOffendingLines()
    {
        var path = ModelFiles.TestModel("invalid-many-errors.json");
        var r = PlatformModel.Load(path);
        var bar = r.Errors.Single(e => e.Path.EndsWith(".bars[2].size", StringComparison.Ordinal));
        Assert.That(bar.Line, Is.EqualTo(ModelFiles.LineOf(path, "\"12K\"")));
        var typo = r.Errors.Single(e => e.Path.EndsWith(".busRserve", StringComparison.Ordinal));
        Assert.That(typo.Line, Is.EqualTo(ModelFiles.LineOf(path, "\"busRserve\"")));
        Assert.That(typo.Column, Is.EqualTo(File.ReadAllLines(path)[typo.Line - 1].IndexOf('"') + 1));
    }

    [Test]
    public void Topology_ReportsNumberingAndNamingMistakes()
    {
        const string sw = "$.hosts[0].rootPorts[3].downstream";
        AssertErrors(Load("invalid-topology.json"),
            ("$.hosts[0].rootPorts[1].name", "name 'rp' is already used by $.hosts[0].rootPorts[0]"),
            ("$.hosts[0].rootPorts[1].device", "device 1 function 0 is already used by $.hosts[0].rootPorts[0]"),
            ("$.hosts[0].rootPorts[2].function", "device 4 on the root bus has no function 0"),
            (sw + ".downstreamPorts[1].slot", $"slot 5 is already used by {sw}.downstreamPorts[0]"),
            (sw + ".downstreamPorts[1].device", $"device 0 on the switch's internal bus is already used by {sw}.downstreamPorts[0]"),
            (sw + ".downstreamPorts[2].downstream.functions[1].function", $"function 1 is already defined by {sw}.downstreamPorts[2].downstream.functions[0]"),
            (sw + ".downstreamPorts[2].downstream.functions", "the device has no function 0"),
            ("$.hosts[1].name", "host name 'h0' is already used by $.hosts[0]"),
            ("$.hosts[1].segment", "segment 0 is already used by $.hosts[0]"));
    }

    [Test]
    public void Sriov_ReportsEveryCapabilityAndRoutingMistake()
    {
        const string iov = "$.hosts[0].rootPorts[0].downstream.functions[0].capabilities.sriov";
        AssertErrors(Load("invalid-sriov.json"),
            (iov + ".initialVfs", "8 differs from totalVfs 16"),
            (iov + ".supportedPageSizes", "missing: 256 KiB, 1 MiB, 4 MiB"),
            (iov + ".vfBars[1].kind", "VF BARs decode memory only"),
            (iov + ".vfMsix.pbaOffset", "the PBA at 0x3000 (128 bytes) overlaps the MSI-X table at 0x0 (16384 bytes)"),
            (iov + ".firstVfOffset", "VF 8 of 'pf0' gets function number 8 on the device's bus, which needs ARI"),
            ("$.hosts[0].rootPorts[1].busReserve", "busReserve must be at least 1 (it is 0)"));
    }
}
