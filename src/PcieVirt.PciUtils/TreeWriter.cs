using System.Globalization;

namespace PcieVirt.PciUtils;

/// <summary>
/// <c>lspci -t</c>: the bus tree built as lspci does when it only has config registers — each
/// Type 1 (or CardBus) bridge claims the buses between its secondary and subordinate numbers, each
/// domain gets a host bridge covering all buses, and functions hang off the buses they sit on.
/// </summary>
internal sealed class TreeWriter
{
    const uint None = uint.MaxValue;

    sealed class Bridge
    {
        public uint Domain, Primary, Secondary, Subordinate;
        public readonly List<Bridge> Children = []; // insertion order; lspci walks them newest first
        public readonly List<Bus> Buses = [];
        public Lspci.Device? Device;
    }

    sealed class Bus(uint domain, uint number)
    {
        public readonly uint Domain = domain, Number = number;
        public readonly List<Lspci.Device> Devices = [];
    }

    readonly Lspci.Context _ctx;
    readonly List<Lspci.Device> _devices;
    readonly DeviceFilter? _filter;
    readonly Bridge _host = new() { Primary = None, Subordinate = None };
    readonly List<Bridge> _chain = [];
    readonly Dictionary<Lspci.Device, Bridge> _bridgeOf = [];
    readonly char[] _line = new char[1024];

    public TreeWriter(Lspci.Context ctx, List<Lspci.Device> devices, DeviceFilter? filter)
    {
        _ctx = ctx;
        _devices = devices;
        _filter = filter;
        Grow();
    }

    void Grow()
    {
        // One host bridge spans every bus of domain 0 (its secondary bus 0 always exists, as in
        // lspci 3.9); other domains' root buses hang off it too.
        _host.Domain = 0;
        _host.Secondary = 0;
        foreach (var d in _devices)
        {
            var c = d.Config;
            if (c.ClassCode >> 8 != 0x06 || c.HeaderLayout is not (1 or 2)) continue;
            var b = new Bridge
            {
                Domain = c.Address.Segment, Primary = c.U8(0x18),
                Secondary = c.U8(0x19), Subordinate = c.U8(0x1A), Device = d,
            };
            _chain.Add(b);
            _bridgeOf[d] = b;
        }
        // Each bridge hangs under the bridge (or the host) whose bus range holds its primary bus.
        foreach (var b in _chain)
        {
            Bridge? best = null;
            foreach (var c in Candidates())
            {
                if (c == b || (c != _host && b.Domain != c.Domain)) continue;
                if (b.Primary < c.Secondary || b.Primary > c.Subordinate) continue;
                if (best == null || best.Subordinate - best.Primary > c.Subordinate - c.Primary) best = c;
            }
            best?.Children.Add(b);
        }
        foreach (var b in Candidates())
            if (FindBus(b, b.Domain, b.Secondary) == null)
                b.Buses.Add(new Bus(b.Domain, b.Secondary));
        foreach (var d in _devices) Insert(d, _host);
    }

    IEnumerable<Bridge> Candidates()
    {
        yield return _host;
        foreach (var c in _chain) yield return c;
    }

    static Bus? FindBus(Bridge b, uint domain, uint n) => b.Buses.Find(u => u.Domain == domain && u.Number == n);

    void Insert(Lspci.Device d, Bridge b)
    {
        uint dom = d.Config.Address.Segment, busNo = d.Config.Address.Bdf.Bus;
        var bus = FindBus(b, dom, busNo);
        if (bus == null)
        {
            // Newest bridge first, as lspci links them.
            for (int i = b.Children.Count - 1; i >= 0; i--)
            {
                var c = b.Children[i];
                if (c.Domain == dom && c.Secondary <= busNo && busNo <= c.Subordinate)
                {
                    Insert(d, c);
                    return;
                }
            }
            bus = new Bus(dom, busNo);
            b.Buses.Add(bus);
        }
        bus.Devices.Add(d);
    }

    public void Write() => ShowBridge(_filter, _host, 0);

    int Append(int p, string s)
    {
        int space = _line.Length - 1 - p;
        if (space <= 0) return p;
        int n = Math.Min(s.Length, space);
        s.CopyTo(0, _line, p, n);
        return p + n;
    }

    void PrintIt(int p)
    {
        _ctx.Out.Write(_line, 0, p);
        if (p >= _line.Length - 1) _ctx.Out.Write("...");
        _ctx.Out.Write('\n');
        for (int i = 0; i < p; i++) _line[i] = _line[i] is '+' or '|' ? '|' : ' ';
    }

    bool DevMatches(DeviceFilter? f, Lspci.Device d)
    {
        if (f == null || Lspci.Match(f, d)) return true;
        if (_bridgeOf.TryGetValue(d, out var br))
            foreach (var u in br.Buses)
                if (BusMatches(f, u)) return true;
        return false;
    }

    bool BusMatches(DeviceFilter? f, Bus b)
    {
        if (f == null) return true;
        foreach (var d in b.Devices)
            if (DevMatches(f, d)) return true;
        return false;
    }

    static DeviceFilter? ChildFilter(DeviceFilter? f, Lspci.Device d) => f == null || Lspci.Match(f, d) ? null : f;

    static string Bus4(Bus u) => string.Create(CultureInfo.InvariantCulture, $"[{u.Domain:x4}:{u.Number:x2}]-");

    void ShowBridge(DeviceFilter? f, Bridge b, int p)
    {
        _line[p++] = '-';
        if (b.Buses.Count == 1)
        {
            var u = b.Buses[0];
            if (BusMatches(f, u))
            {
                if (b.Device == null) p = Append(p, Bus4(u));
                ShowBus(f, u, p);
            }
            else PrintIt(p);
            return;
        }
        int count = 0;
        foreach (var u in b.Buses) if (BusMatches(f, u)) count++;
        int i = 0;
        foreach (var u in b.Buses)
        {
            if (!BusMatches(f, u)) continue;
            string prefix = count == 1 ? "" : count == i + 1 ? "\\-" : "+-";
            ShowBus(f, u, Append(p, prefix + Bus4(u)));
            i++;
        }
        if (count == 0) PrintIt(p);
    }

    void ShowBus(DeviceFilter? f, Bus b, int p)
    {
        if (b.Devices.Count == 0)
        {
            PrintIt(p);
            return;
        }
        if (b.Devices.Count == 1)
        {
            var d = b.Devices[0];
            if (DevMatches(f, d)) ShowDev(ChildFilter(f, d), d, Append(p, "--"));
            else PrintIt(p);
            return;
        }
        int count = 0;
        foreach (var d in b.Devices) if (DevMatches(f, d)) count++;
        int i = 0;
        foreach (var d in b.Devices)
        {
            if (!DevMatches(f, d)) continue;
            ShowDev(ChildFilter(f, d), d, Append(p, count == 1 ? "--" : count == i + 1 ? "\\-" : "+-"));
            i++;
        }
        if (count == 0) PrintIt(p);
    }

    void ShowDev(DeviceFilter? f, Lspci.Device d, int p)
    {
        var bdf = d.Config.Address.Bdf;
        p = Append(p, string.Create(CultureInfo.InvariantCulture, $"{bdf.Device:x2}.{bdf.Function:x}"));
        foreach (var b in _chain)
        {
            if (b.Device != d) continue;
            if (b.Secondary == 0) p = Append(p, "-");
            else if (b.Secondary == b.Subordinate) p = Append(p, string.Create(CultureInfo.InvariantCulture, $"-[{b.Secondary:x2}]-"));
            else p = Append(p, string.Create(CultureInfo.InvariantCulture, $"-[{b.Secondary:x2}-{b.Subordinate:x2}]-"));
            ShowBridge(f, b, p);
            return;
        }
        if (_ctx.Verbose > 0) p = Append(p, "  " + _ctx.Names.VendorDevice(d.VendorId, d.DeviceId));
        PrintIt(p);
    }
}
