using System.Globalization;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Platform;

namespace PcieVirt.Cli;

// Shell commands for SR-IOV and virtual time: what a Linux user does through sysfs
// (cat sriov_*, echo N > sriov_numvfs) and what a script needs to let settle times pass.
public sealed partial class Session
{
    /// <summary>
    /// <c>sriov</c>: list the SR-IOV PFs; <c>sriov BDF</c>: the PF's sysfs attributes, one
    /// <c>name: value</c> per line, then <c>virtfnN -&gt; address</c>; <c>sriov BDF numvfs=N</c>: the host
    /// OS's enable (N &gt; 0) or disable (N = 0) sequence.
    /// </summary>
    int Sriov(string[] args)
    {
        if (args.Length == 0)
        {
            foreach (var h in System.Hosts)
                foreach (var pf in h.Os.PhysicalFunctions)
                    _out.WriteLine($"{pf.Address.ToString(withDomain: true)}: TotalVFs {pf.TotalVfs}, NumVFs {pf.NumVfs}");
            return 0;
        }
        if (args.Length > 2)
        {
            _err.WriteLine("usage: sriov [BDF [numvfs=N]]");
            return 2;
        }
        if (!PciAddress.TryParse(args[0], out var address))
        {
            _err.WriteLine($"sriov: '{args[0]}' is not a function address ([domain:]bus:device.function)");
            return 2;
        }
        var host = HostOf(address);
        if (host?.Os.FindPhysicalFunction(address) == null)
        {
            _err.WriteLine($"sriov: {address.ToString(withDomain: true)} is not an SR-IOV PF (no sriov_* attributes)");
            return 1;
        }
        if (args.Length == 1)
        {
            foreach (var (name, value) in host.Os.Sysfs(address)!)
                _out.WriteLine(name.StartsWith("virtfn", StringComparison.Ordinal) ? $"{name} -> {value}" : $"{name}: {value}");
            return 0;
        }
        const string prefix = "numvfs=";
        if (!args[1].StartsWith(prefix, StringComparison.Ordinal)
            || !int.TryParse(args[1].AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int n))
        {
            _err.WriteLine($"sriov: expected numvfs=N (a decimal number), not '{args[1]}'");
            return 2;
        }
        var r = host.Os.EnableVfs(address, n);
        if (!r.Success)
        {
            // As a shell reports the failed write to sriov_numvfs, with the kernel's message first.
            _err.WriteLine($"sriov: {r.Message}");
            _err.WriteLine($"sriov: write error: {r.ErrorText}");
            return 1;
        }
        _out.WriteLine(r.Message);
        return 0;
    }

    /// <summary><c>advance DURATION</c>: virtual time passes on every host (e.g. a VF's settle time after VF Enable).</summary>
    int Advance(string[] args)
    {
        if (args.Length != 1 || !VirtualClock.TryParseDuration(args[0], out ulong ns))
        {
            _err.WriteLine("usage: advance DURATION (e.g. 100ms, 1s, 250us, 500ns)");
            return 2;
        }
        foreach (var h in System.Hosts)
        {
            var clock = h.RootComplex.Clock;
            if (ns > ulong.MaxValue - clock.Now)
            {
                _err.WriteLine($"advance: {h.Name}: the virtual clock would overflow");
                return 1;
            }
            clock.Advance(ns);
            _out.WriteLine($"{h.Name}: t={VirtualClock.Format(clock.Now)}");
        }
        return 0;
    }

    HostSystem? HostOf(PciAddress address)
    {
        foreach (var h in System.Hosts)
            if (h.RootComplex.Segment == address.Segment) return h;
        return null;
    }

}
