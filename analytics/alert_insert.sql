-- One alert event (firing, renotified, resolved); every value bound.
INSERT INTO alerts
SELECT
    {ts:DateTime64(3, 'UTC')}, {rule:String}, {alert_key:String}, {status:String}, {metric:String},
    {scope:String}, {name:String}, {value:Float64}, {threshold:Float64}, {requests:UInt64},
    {window_start:DateTime64(3, 'UTC')}, {window_end:DateTime64(3, 'UTC')}, {message:String},
    {evidence:String}, {notified:Bool}, {delivery:String}
