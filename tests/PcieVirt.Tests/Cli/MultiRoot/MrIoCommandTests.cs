using System.Text.Json;
using PcieVirt.Tests.Platform;

namespace PcieVirt.Tests.Cli.MultiRoot;

public class MrIoCommandTests
{
    static readonly string Model = ModelFiles.DeviceModel("mriov-2host.json");

    static JsonElement Json(params string[] extra)
    {
        var r = Pcievirt.Run(["mrio", "--model", Model, "--ops", "400", "--json", .. extra]);
        Assert.That(r.ExitCode, Is.EqualTo(0), r.ToString());
        return JsonDocument.Parse(r.Out).RootElement.Clone();
    }

    static JsonElement Run(JsonElement root, string name) => root.GetProperty("runs").EnumerateArray().Single(r => r.GetProperty("name").GetString() == name);

    static double Share(JsonElement run, string host) =>
        run.GetProperty("hosts").EnumerateArray().Single(h => h.GetProperty("host").GetString() == host).GetProperty("share_all_busy").GetDouble();

    [Test]
    public void Weighted_round_robin_splits_the_saturated_link_by_the_weights_and_an_idle_hosts_share_goes_to_the_other()
    {
        var root = Json("--weights", "3:1");
        var busy = Run(root, "all busy");
        Assert.That(busy.GetProperty("link_utilisation").GetDouble(), Is.GreaterThan(0.95), "both hosts saturate the link");
        Assert.That(Share(busy, "host0"), Is.InRange(0.72, 0.78));
        Assert.That(Share(busy, "host1"), Is.InRange(0.22, 0.28));
        // Alone, host0 (weight 3 of 4) uses the whole link, not three quarters of it.
        var alone = Run(root, "others idle");
        Assert.That(alone.GetProperty("link_utilisation").GetDouble(), Is.GreaterThan(0.95));
        var vls = root.GetProperty("virtual_links").EnumerateArray().ToList();
        Assert.That(vls.Any(v => v.GetProperty("direction").GetString() == "up" && v.GetProperty("vl").GetInt32() == 1 && v.GetProperty("posted").GetInt64() > 0));
        Assert.That(vls.Any(v => v.GetProperty("direction").GetString() == "up" && v.GetProperty("vl").GetInt32() == 2 && v.GetProperty("posted").GetInt64() > 0));
    }

    [Test]
    public void Equal_weights_split_evenly_and_strict_priority_favours_the_lower_vl()
    {
        var even = Run(Json("--weights", "1:1"), "all busy");
        Assert.That(Share(even, "host0"), Is.InRange(0.47, 0.53));
        var strict = Run(Json("--policy", "strict"), "all busy");
        Assert.That(Share(strict, "host0"), Is.GreaterThan(0.95), "host0's VH is on VL 1, host1's on VL 2");
    }

    [Test]
    public void Each_host_is_isolated_from_the_others_functions_and_memory()
    {
        var probes = Json().GetProperty("isolation").EnumerateArray().ToList();
        Assert.That(probes, Has.Count.EqualTo(4));
        Assert.That(probes.Select(p => p.GetProperty("isolated").GetBoolean()), Is.All.True);
        // host0 has no function at the address host1's PF has (04:00.0 lies in the bus range reserved below
        // its own virtual port, behind an endpoint): the request completes UR.
        var cfg = probes.Single(p => p.GetProperty("from").GetString() == "host0" && p.GetProperty("kind").GetString() == "config");
        Assert.That(cfg.GetProperty("outcome").GetString(), Is.EqualTo("UnsupportedRequest"));
        var dma = probes.Single(p => p.GetProperty("from").GetString() == "host0" && p.GetProperty("kind").GetString() == "dma");
        Assert.That(dma.GetProperty("outcome").GetString(), Does.Contain("marker there").And.Contain("host1's memory unchanged"));
    }

    [Test]
    public void Output_is_deterministic_and_the_text_form_names_hosts_and_vls()
    {
        var a = Pcievirt.Run("mrio", "--model", Model, "--ops", "200", "--weights", "3:1");
        var b = Pcievirt.Run("mrio", "--model", Model, "--ops", "200", "--weights", "3:1");
        Assert.That(a.ExitCode, Is.EqualTo(0), a.ToString());
        Assert.That(a.Out, Is.EqualTo(b.Out));
        Assert.That(a.Out, Does.Contain("host0 PF mraid-pf0 VH1 tag 1 -> VL1 weight 3").And.Contain("run 'all busy'").And.Contain("run 'others idle'"));
    }

    [Test]
    public void Bad_arguments_are_reported()
    {
        var r = Pcievirt.Run("mrio", "--model", Model, "--policy", "fifo");
        Assert.That((r.ExitCode, r.Err), Is.EqualTo((2, r.Err)));
        Assert.That(r.Err, Does.Contain("--policy 'fifo'"));
        var w = Pcievirt.Run("mrio", "--model", Model, "--weights", "3:0");
        Assert.That(w.ExitCode, Is.EqualTo(2));
        Assert.That(w.Err, Does.Contain("1..255"));
        var n = Pcievirt.Run("mrio", "--model", Model, "--weights", "3:1:1");
        Assert.That(n.ExitCode, Is.EqualTo(1));
        Assert.That(n.Err, Does.Contain("3 weight(s) for 2 host VHs"));
        var d = Pcievirt.Run("mrio", "--ops", "10");
        Assert.That(d.ExitCode, Is.EqualTo(1));
        Assert.That(d.Err, Does.Contain("no multi-root section"));
    }
}
